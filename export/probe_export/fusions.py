"""Attention fusions onnxruntime's BERT optimizer does not do, keyed by ``config.model_type``.

onnxruntime's transformer optimizer (model_type ``bert``, `probe_export.graph.optimize`) fuses the
attention of BERT, DistilBERT, RoBERTa and XLM-R into one ``com.microsoft.Attention`` per layer. MPNet's
attention adds a *relative position bias* to the scaled scores before the padding mask::

    Softmax(Add(Add(Div(MatMul(q, k^T), sqrt(d)), position_bias), mask)) @ v

``position_bias`` ([1, heads, S, S]) is computed once from the relative positions and shared by every
layer. onnxruntime's ``FusionAttention`` only matches one Add between the scaled scores and the Softmax
(the mask), so MPNet stayed unfused: 12 layers of Reshape/Transpose/MatMul/Softmax chains instead of one
fused kernel each. `BiasedAttentionFusion` is onnxruntime's own ``FusionAttention`` taught that pattern:
it matches the chain from its Softmax and builds the node with the parent class's
``create_attention_node``, which already supports the op's ``attention_bias`` input (index 5: added to
``Q K^T * scale`` before the mask, broadcast over the batch). The result is exact in fp32 (the export
verifies it against PyTorch). Measured (research/attention_fusion, AMD EPYC, SST-2 phrases): ~4 % less
CPU per text at batch 1 and none at batch 32 on the default int8-per-token file, whose time goes to the
int8 matmuls; the fused graph is the smaller and the one onnxruntime's attention kernels are tuned for.

int8: per-batch ``QAttention`` has no ``attention_bias`` input (onnxruntime's quantizer would drop it), so
`probe_export.graph.quantize_int8` first unfuses a biased ``Attention`` into MatMul + Split +
``MultiHeadAttention`` (which has ``attention_bias``) for both int8 precisions
(`probe_export.rowwise.unfuse_attention`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from onnx import ModelProto, NodeProto
from onnxruntime.transformers.fusion_attention import AttentionMask, FusionAttention
from onnxruntime.transformers.onnx_model import OnnxModel

__all__ = ["ARCHITECTURE_FUSIONS", "BiasedAttentionFusion", "apply_architecture_fusions", "attention_first_residuals"]

log = logging.getLogger(__name__)

# The padding-mask subgraphs the exporter produces, as (op types, input indices) paths from the Add that
# applies the mask (the same paths onnxruntime's FusionAttention matches). The last node's first input
# is the 2-D attention mask.
_MASK_PATHS = [
    # transformers 5, eager attention: Where(Expand(And(..., Reshape(Reshape(Gather(Flatten(mask)))))), 0, min)
    (["Where", "Expand", "And", "Reshape", "Reshape", "Gather", "Flatten"], [None, 0, 0, 1, 0, 0, 0]),
    # transformers 4: (1 - mask[:, None, None, :]) * min
    (["Mul", "Sub", "Cast", "Unsqueeze", "Unsqueeze"], [None, 0, 1, 0, 0]),
    (["Mul", "Sub", "Unsqueeze", "Unsqueeze"], [None, 0, 1, 0]),
]


class BiasedAttentionFusion(FusionAttention):
    """Self-attention with an additive score bias before the padding mask -> ``Attention(..., attention_bias)``.

    Matched from each Softmax (MPNet's chain, module docstring)::

        q, k, v = (MatMul(x, W) + b -> Reshape -> Transpose) for each
        Softmax(Add(Add(Div(MatMul(q, k^T), c), bias), mask)) -> MatMul(., v) -> Transpose -> Reshape

    ``bias`` is passed as the fused node's ``attention_bias``; when it is an ``Expand`` of a [1, H, S, S]
    tensor over the batch, the un-expanded tensor is passed (the kernel broadcasts it).
    """

    def __init__(self, model: OnnxModel, hidden_size: int, num_heads: int, mask: AttentionMask) -> None:
        super().__init__(model, hidden_size, num_heads, mask, search_op_types=["Softmax"])

    def _projection(self, node: NodeProto, index: int, transposes: int = 1) -> list[NodeProto] | None:
        """[Transpose, Reshape, Add, MatMul] above ``node.input[index]``: one head-split projection."""
        path = ["Transpose"] * transposes + ["Reshape", "Add", "MatMul"]
        return self.model.match_parent_path(node, path, [index] + [0] * (len(path) - 2) + [None])

    def _bias(self, add_bias: NodeProto, div: NodeProto, output_name_to_node: dict[str, NodeProto]) -> str:
        """The score bias added by ``add_bias`` (the input that is not the scaled scores), un-expanded."""
        bias = next(i for i in add_bias.input if i != div.output[0])
        expand = output_name_to_node.get(bias)
        if expand is not None and expand.op_type == "Expand":
            unsqueeze = output_name_to_node.get(expand.input[0])
            axes = self.model.get_constant_value(unsqueeze.input[1]) if unsqueeze is not None else None
            if unsqueeze is not None and unsqueeze.op_type == "Unsqueeze" and axes is not None and list(axes) == [0]:
                return str(expand.input[0])  # [1, H, S, S]: broadcast over the batch by the kernel
        return str(bias)

    def _only_child(self, node: NodeProto, op_type: str, input_name_to_nodes: dict[str, Any]) -> NodeProto | None:
        children = input_name_to_nodes.get(node.output[0], [])
        return children[0] if len(children) == 1 and children[0].op_type == op_type else None

    def _context(self, softmax: NodeProto, input_name_to_nodes: dict[str, Any]) -> list[NodeProto] | None:
        """[MatMul(probs, v), Transpose, Reshape] below ``softmax``: the heads merged back."""
        chain = [softmax]
        for op_type in ("MatMul", "Transpose", "Reshape"):
            child = self._only_child(chain[-1], op_type, input_name_to_nodes)
            if child is None:
                return None
            chain.append(child)
        return chain[1:]

    def _mask_index(self, add_mask: NodeProto, output_name_to_node: dict[str, Any]) -> str | None:
        """The fused node's mask input for the padding mask ``add_mask`` adds (None: not a known mask)."""
        path, nodes, _ = self.model.match_parent_paths(add_mask, _MASK_PATHS, output_name_to_node)
        if nodes is None:
            return None
        if path > 0:  # transformers 4: the mask value is the Mul's constant
            _, filler = self.model.get_constant_input(nodes[0])
            if filler is None or np.size(filler) != 1 or float(filler) >= 0:
                return None
            self.mask_filter_value = float(filler)
        return self.attention_mask.process_mask(nodes[-1].input[0])

    def fuse(
        self, softmax: NodeProto, input_name_to_nodes: dict[str, Any], output_name_to_node: dict[str, Any]
    ) -> None:
        """Fuse the attention block around ``softmax`` if it is the biased pattern; otherwise leave it."""
        scores = self.model.match_parent_path(
            softmax, ["Add", "Add", "Div", "MatMul"], [0, None, None, 0], output_name_to_node
        )
        context = self._context(softmax, input_name_to_nodes)
        if scores is None or context is None:
            return
        add_mask, add_bias, div, matmul_qk = scores
        divisor = self.model.get_constant_value(div.input[1])
        if divisor is None or np.size(divisor) != 1 or float(divisor) <= 0:
            return
        q_nodes, k_nodes = self._projection(matmul_qk, 0), self._projection(matmul_qk, 1)
        v_nodes = self._projection(context[0], 1)
        if q_nodes is None or k_nodes is None or v_nodes is None:
            return
        root = q_nodes[-1].input[0]
        if k_nodes[-1].input[0] != root or v_nodes[-1].input[0] != root:
            return
        heads, hidden = self.get_num_heads_and_hidden_size(q_nodes[1])
        mask_index = self._mask_index(add_mask, output_name_to_node)
        if heads <= 0 or hidden <= 0 or mask_index is None:
            return
        node = self.create_attention_node(
            mask_index=mask_index,
            q_matmul=q_nodes[-1],
            k_matmul=k_nodes[-1],
            v_matmul=v_nodes[-1],
            q_add=q_nodes[-2],
            k_add=k_nodes[-2],
            v_add=v_nodes[-2],
            num_heads=heads,
            hidden_size=hidden,
            first_input=root,
            output=context[-1].output[0],
            add_qk_str=self._bias(add_bias, div, output_name_to_node),
            scale=1.0 / float(divisor),
        )
        if node is None:
            return
        self.nodes_to_add.append(node)
        self.node_name_to_graph_name[node.name] = self.this_graph_name
        self.nodes_to_remove.extend([*context, softmax, *scores, *q_nodes, *k_nodes, *v_nodes])
        self.prune_graph = True  # the mask and bias subgraphs are shared: pruning removes what is left unused


# Above the attention output projection's bias Add: context (Softmax @ V) -> Transpose -> Reshape -> MatMul.
_ATTENTION_OUTPUT = (["MatMul", "Reshape", "Transpose", "MatMul"], [None, 0, 0, 0])


def attention_first_residuals(model: ModelProto) -> int:
    """Swap the inputs of each residual ``Add(x, attention_out)`` before a LayerNormalization whose first
    input is itself an Add (exact: addition commutes); returns how many.

    onnxruntime's FusionAttention looks for the attention output as the *first Add parent* of that Add.
    In ALBERT's first layer ``x`` is the embedding projection (MatMul + bias Add), so it takes that branch,
    fails, and only the second of ALBERT's shared-weight layers was fused.
    """
    graph = OnnxModel(model)
    producer = graph.output_name_to_node()
    swapped = 0
    for norm in graph.get_nodes_by_op_type("LayerNormalization"):
        add = producer.get(norm.input[0])
        if add is None or add.op_type != "Add" or len(add.input) != 2:
            continue
        first, second = (producer.get(i) for i in add.input)
        if first is None or first.op_type != "Add" or second is None or second.op_type != "Add":
            continue
        if graph.match_parent_path(second, *_ATTENTION_OUTPUT, producer) is None:
            continue
        if graph.match_parent_path(first, *_ATTENTION_OUTPUT, producer) is not None:
            continue
        add.input[0], add.input[1] = add.input[1], add.input[0]
        swapped += 1
    return swapped


# config.model_type -> the fusions that run after onnxruntime's BERT optimizer.
ARCHITECTURE_FUSIONS: dict[str, list[type[BiasedAttentionFusion]]] = {"mpnet": [BiasedAttentionFusion]}


def apply_architecture_fusions(model: Any, model_type: str, num_heads: int, hidden_size: int) -> None:
    """Run ``model_type``'s extra fusions on an optimized ``BertOnnxModel`` (in place)."""
    for fusion in ARCHITECTURE_FUSIONS.get(model_type, []):
        fusion(model, hidden_size, num_heads, model.attention_mask).apply()
    model.remove_unused_constant()
