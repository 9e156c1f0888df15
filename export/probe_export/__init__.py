"""probe-export: fuse encoder, pooling and head into one verified, quantized ONNX artifact."""

__version__ = "0.1.0"

from probe_runtime.choices import LongTextPolicy, Quantization, WindowAggregate

# How `probe export` stores weights and activations (`probe_export.precision` says how `auto` chooses).
# Here, derived from the runtime's contract, so the CLI can offer them without importing torch.
AUTO = "auto"
QUANTIZE_CHOICES = (AUTO, *Quantization.values())
LONG_TEXT_CHOICES = LongTextPolicy.values()
WINDOW_AGGREGATE_CHOICES = WindowAggregate.values()
