"""probe-export: fuse encoder, pooling and head into one verified, quantized ONNX artifact."""

__version__ = "0.1.0"
