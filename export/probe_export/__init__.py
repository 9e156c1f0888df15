"""probe-export: fuse encoder, pooling and head into one verified, quantized ONNX artifact."""

__version__ = "0.1.0"

from probe_runtime.artifact import QUANTIZATIONS

# How `probe export` stores weights and activations (`probe_export.precision` says how `auto` chooses).
# Here, derived from the runtime's contract, so the CLI can offer them without importing torch.
AUTO = "auto"
QUANTIZE_CHOICES = (AUTO, *QUANTIZATIONS)
