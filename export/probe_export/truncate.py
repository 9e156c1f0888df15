"""Keep only the encoder blocks a model reads: a probe on layer K needs blocks 1..K, not the ones after.

The blocks after K cost time and bytes in the exported graph and change nothing the head sees, so the
exporter drops them: the encoder's block list is cut to its first K entries and the classifier reads
the cut encoder's last hidden state. Whether the cut encoder's last hidden state really is the full
encoder's hidden state K is checked on real inputs before the cut model is used (an architecture whose
last hidden state is post-processed, e.g. a final norm, would differ: it is then exported whole).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from probe_train.classifier_module import ClassifierModule, Feeds

__all__ = ["block_list", "truncate_module"]

log = logging.getLogger(__name__)


def block_list(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The encoder's list of transformer blocks: the one ModuleList as long as ``config.num_hidden_layers``."""
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for _, child in model.named_modules():
        if isinstance(child, torch.nn.ModuleList) and len(child) == n_layers:
            return child
    return None


def _cut(model: torch.nn.Module, keep: int) -> torch.nn.Module | None:
    """A copy of ``model`` with its first ``keep`` blocks only (None: no block list found)."""
    blocks = block_list(model)
    if blocks is None:
        return None
    path = next(name for name, child in model.named_modules() if child is blocks)
    cut = copy.deepcopy(model)
    parent = cut.get_submodule(path.rpartition(".")[0]) if "." in path else cut
    kept = cut.get_submodule(path)
    assert isinstance(kept, torch.nn.ModuleList)
    setattr(parent, path.rpartition(".")[2], torch.nn.ModuleList(list(kept)[:keep]))
    config: Any = copy.deepcopy(getattr(model, "config"))  # noqa: B009 (nn.Module types attributes as Tensor|Module)
    config.num_hidden_layers = keep
    cut.config = config
    return cut


def truncate_module(module: ClassifierModule, sample: Feeds, tolerance: float = 1e-5) -> tuple[ClassifierModule, int]:
    """(the module on the encoder's first K blocks, K) when the head reads hidden state K < the block count;
    otherwise (``module``, the block count) unchanged."""
    n_layers = int(getattr(module.encoder, "config").num_hidden_layers)  # noqa: B009 (nn.Module types attributes as Tensor|Module)
    keep = module.layer + n_layers + 1 if module.layer < 0 else module.layer
    if keep >= n_layers:
        return module, n_layers
    encoder = _cut(module.encoder, keep)
    if encoder is None:
        log.warning("export: no block list found in %s; exporting every layer", type(module.encoder).__name__)
        return module, n_layers
    cut = ClassifierModule(encoder, module.head, module.pooling, -1, module.input_names, module.normalize).eval()
    cut.temperature = module.temperature  # the calibration folded into the graph: the cut file's probabilities too
    with torch.inference_mode():
        full, short = module(**sample)[1], cut(**sample)[1]
    if not torch.allclose(full, short, atol=tolerance, rtol=0):
        log.warning("export: the cut encoder's last hidden state is not hidden state %d; exporting every layer", keep)
        return module, n_layers
    return cut, keep
