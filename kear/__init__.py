"""kear: knowledge-augmented multiple-choice question answering (KEAR) on Hugging Face tools.

The knowledge side lives in the sibling package :mod:`retrieval` (records, knowledge sources, retrieval
pipeline); this package holds the model side and the ``kear`` command. Each step of the job is one function::

    from kear import TrainConfig, train, load_model, Predictor, predict_records, combine, push

Names are imported on first use, so ``import kear`` (and ``kear --version``) does not load torch.

kear's models are also transformers-native: once kear is imported, ``AutoConfig``, ``AutoModel`` and
``AutoModelForMultipleChoice`` load a kear model folder, and ``pipeline("kear-multiple-choice", model=FOLDER)``
answers questions with it (:mod:`kear.hf_pipeline`), whichever of kear and transformers is imported first.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any

from retrieval.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "DemoSettings": "demo",
    "InferenceConfig": "inference",
    "InputConfig": "inputs",
    "KearConfig": "modeling",
    "KearModel": "modeling",
    "KearPipeline": "hf_pipeline",
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
    "KearPipeline",
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
    from .hf_pipeline import KearPipeline
    from .hub import model_card, push
    from .inference import InferenceConfig
    from .inputs import InputConfig, encode_records
    from .modeling import KearConfig, KearModel, load_model, save_model
    from .prediction import predict_file
    from .predictor import Predictor, predict_records
    from .training import TrainResult, train


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


# Registering with transformers needs kear's classes, which need torch and transformers, and `import kear` must load
# neither (the CLI starts in well under a second without them). So kear registers when transformers is imported:
# at once if it already is, otherwise just after the module below has run, through a finder that wraps its loader.
# Each kear module registers itself at its bottom; one already being imported (kear.modeling imports transformers
# itself) is left to do so when it gets there. transformers.pipelines has its own entry so that importing
# transformers alone does not also import the pipelines.
_REGISTERED_BY = {"transformers": "kear.modeling", "transformers.pipelines": "kear.hf_pipeline"}


def _register(trigger: str) -> None:
    """Import the kear module that registers with ``trigger`` (unless it is imported or being imported)."""
    if _REGISTERED_BY[trigger] not in sys.modules:
        importlib.import_module(_REGISTERED_BY[trigger])


class _RegisterAfterExec:
    """A module's loader, which registers kear with transformers once the module has run.

    Args:
        loader: the module's own loader (everything but ``exec_module`` is its).
        trigger: the module's name.
    """

    def __init__(self, loader: Any, trigger: str) -> None:
        self.loader, self.trigger = loader, trigger

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (a copy being made): no endless lookup of self.loader
            raise AttributeError(name)
        return getattr(self.loader, name)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _register(self.trigger)


class _RegisterOnImport:
    """A ``sys.meta_path`` finder that finds transformers' modules with the other finders and wraps their loaders in
    :class:`_RegisterAfterExec`."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in _REGISTERED_BY:
            return None
        for finder in sys.meta_path:
            find = None if finder is self else getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisterAfterExec(spec.loader, name)
                return spec
        return None


def _register_with_transformers() -> None:
    """Register with what transformers has imported, and wait for the rest."""
    waiting = False
    for trigger in _REGISTERED_BY:
        if trigger in sys.modules:
            _register(trigger)
        else:
            waiting = True
    if waiting:
        sys.meta_path.insert(0, _RegisterOnImport())


_register_with_transformers()
