"""probe-train: datasets, encoders, embeddings, linear probes and reports."""

__version__ = "0.1.0"
