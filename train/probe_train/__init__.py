"""probe-train: datasets, encoders, embeddings, linear probes, fine-tuning and reports.

`train(TrainRequest(...)) -> TrainedModel` is the one way to train (the `probe train` CLI and the
`estimator.ProbeClassifier` both use it); `model_dir.save_trained` writes the result.
"""

from .settings import FinetuneSettings, ProbeSettings
from .training import TrainRequest, train

__all__ = ["FinetuneSettings", "ProbeSettings", "TrainRequest", "train"]
__version__ = "0.1.0"
