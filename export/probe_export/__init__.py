"""probe-export: fuse encoder, pooling and head into one verified, quantized ONNX artifact."""

__version__ = "0.1.0"

# How `probe export` stores weights and activations. int8: activations scaled per batch (fastest);
# int8-per-token: per token (batch-independent results, fewer flips, ~0.77x the speed;
# benchmarks/results/int8_rowwise.md); none: fp32. Here so the CLI can offer them without importing torch.
QUANTIZE_CHOICES = ("int8", "int8-per-token", "none")
