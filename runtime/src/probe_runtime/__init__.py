"""probe-runtime: run a probe text classifier from one ONNX file, without PyTorch."""

from .artifact import SCHEMA_VERSION, Manifest
from .classifier import Classifier, Prediction
from .errors import ArtifactError, CpuMismatchError, InputError, ProbeError, UsageError
from .long_text import DEFAULT_MAX_WINDOWS

__all__ = [
    "DEFAULT_MAX_WINDOWS",
    "SCHEMA_VERSION",
    "ArtifactError",
    "Classifier",
    "CpuMismatchError",
    "InputError",
    "Manifest",
    "Prediction",
    "ProbeError",
    "UsageError",
]
__version__ = "0.1.0"
