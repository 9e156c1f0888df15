"""probe-runtime: run a probe text classifier from one ONNX file, without PyTorch."""

from .artifact import SCHEMA_VERSION, Manifest
from .classifier import Classifier, Prediction
from .errors import ArtifactError, InputError, ProbeError

__all__ = [
    "SCHEMA_VERSION",
    "ArtifactError",
    "Classifier",
    "InputError",
    "Manifest",
    "Prediction",
    "ProbeError",
]
__version__ = "0.1.0"
