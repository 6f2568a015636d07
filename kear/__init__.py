"""kear: knowledge-augmented multiple-choice question answering (KEAR) on Hugging Face tools.

The knowledge side lives in the sibling package :mod:`retrieval` (records, knowledge sources, retrieval
pipeline); this package holds the model side and the ``kear`` command. Each step of the job is one function::

    from kear import TrainConfig, train, load_model, Predictor, predict_records, combine, push

Names are imported on first use, so ``import kear`` (and ``kear --version``) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "DemoSettings": "demo",
    "InferenceConfig": "inference",
    "InputConfig": "inputs",
    "KearConfig": "modeling",
    "KearModel": "modeling",
    "Prediction": "evaluation",
    "Predictor": "predictor",
    "TrainConfig": "config",
    "TrainResult": "training",
    "combine": "ensemble",
    "encode_records": "inputs",
    "ensemble_files": "ensemble",
    "load_model": "modeling",
    "model_card": "hub",
    "predict_file": "prediction",
    "predict_records": "predictor",
    "push": "hub",
    "read_predictions": "ensemble",
    "run_demo": "demo",
    "save_model": "modeling",
    "search_weights": "ensemble",
    "train": "training",
}
__all__ = [
    "DemoSettings",
    "InferenceConfig",
    "InputConfig",
    "KearConfig",
    "KearModel",
    "Prediction",
    "Predictor",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "combine",
    "encode_records",
    "ensemble_files",
    "load_model",
    "model_card",
    "predict_file",
    "predict_records",
    "push",
    "read_predictions",
    "run_demo",
    "save_model",
    "search_weights",
    "train",
]

if TYPE_CHECKING:
    from .config import TrainConfig
    from .demo import DemoSettings, run_demo
    from .ensemble import combine, ensemble_files, read_predictions, search_weights
    from .evaluation import Prediction
    from .hub import model_card, push
    from .inference import InferenceConfig
    from .inputs import InputConfig, encode_records
    from .modeling import KearConfig, KearModel, load_model, save_model
    from .prediction import predict_file
    from .predictor import Predictor, predict_records
    from .training import TrainResult, train


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
