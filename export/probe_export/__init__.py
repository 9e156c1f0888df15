"""probe-export: fuse encoder, pooling and head into one verified, quantized ONNX artifact."""

__version__ = "0.1.0"

from probe_runtime.choices import LongTextPolicy, Quantization, WindowAggregate

# How `probe export` stores weights and activations (`probe_export.precision` says how `auto` chooses).
# Here, derived from the runtime's contract, so the CLI can offer them without importing torch.
AUTO = "auto"
# What `--quantize` offers: `int8-table` is not asked for by name, it is what int8 means for a static model.
QUANTIZE_CHOICES = (AUTO, *(v for v in Quantization.values() if v != Quantization.INT8_TABLE.value))
LONG_TEXT_CHOICES = LongTextPolicy.values()
WINDOW_AGGREGATE_CHOICES = WindowAggregate.values()
