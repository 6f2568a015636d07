"""The public Python API: what ``from kear import ...`` and ``from retrieval import ...`` offer, and what the README,
the docs and the model card promise of it."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kear
import retrieval

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"kear": kear, "retrieval": retrieval}
# what the README's Python section and the model card import: the promise this API keeps
PROMISED = {
    "kear": [
        "load_model",
        "save_model",
        "KearModel",
        "KearConfig",
        "InputConfig",
        "encode_records",
        "TrainConfig",
        "train",
        "TrainResult",
        "predict_records",
        "predict_file",
        "Prediction",
        "read_predictions",
        "combine",
        "search_weights",
        "ensemble_files",
        "push",
        "model_card",
        "run_demo",
        "DemoSettings",
        "__version__",
    ],
    "retrieval": ["read_records", "annotate", "RetrievalConfig", "retrieve_file", "load_settings"],
}
# a dotted name right after "kear." or "retrieval.", not part of a path or a longer name (docs/retrieval.md)
NAME = re.compile(r"(?<![\w/.-])(kear|retrieval)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
FILE_SUFFIXES = {"md", "py", "yaml", "yml", "json", "jsonl", "txt"}
IMPORT = re.compile(r"^\s*from (kear|retrieval) import (\([^)]*\)|[^\n]+)", re.MULTILINE)


def documented_names(text: str) -> set[str]:
    """Every ``kear.X`` / ``retrieval.X`` (dotted) name a markdown text uses: in backticks, in code blocks (``-m
    kear.cli``), and in ``from kear import a, b`` lines."""
    names = {
        f"{package}.{dotted}"
        for package, dotted in NAME.findall(text)
        if dotted.rsplit(".", 1)[-1] not in FILE_SUFFIXES
    }
    for package, imported in IMPORT.findall(text):
        for part in imported.strip("()").split(","):
            name = part.split("#")[0].strip().split(" as ")[0].strip()
            if name:
                names.add(f"{package}.{name}")
    return names


def resolves(dotted: str) -> bool:
    """Whether ``package.name[.more]`` is there: a public name of the package, or one of its modules (and what
    that module defines)."""
    package, first, *rest = dotted.split(".")
    module = PACKAGES[package]
    if first in module.__all__:
        value = getattr(module, first)
    else:
        try:
            value = importlib.import_module(f"{package}.{first}")
        except ModuleNotFoundError:
            return False
    for name in rest:
        if not hasattr(value, name):
            try:
                value = importlib.import_module(f"{value.__name__}.{name}")
                continue
            except (AttributeError, ModuleNotFoundError):
                return False
        value = getattr(value, name)
    return True


def unresolved(text: str) -> list[str]:
    return sorted(name for name in documented_names(text) if not resolves(name))


@pytest.mark.parametrize("package", [kear, retrieval], ids=lambda p: p.__name__)
def test_every_public_name_resolves(package) -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))
    assert len(set(package.__all__)) == len(package.__all__)


def test_the_promised_names_are_public() -> None:
    for package, names in PROMISED.items():
        missing = sorted(set(names) - set(PACKAGES[package].__all__))
        assert not missing, f"{package} lacks {missing}"
    assert set(kear.__all__) == {*kear._EXPORTS, "__version__"}  # every lazy name is public, and only those


def test_names_come_from_their_modules() -> None:
    from kear import Prediction, load_model, predict_records
    from kear.evaluation import Prediction as defined
    from kear.modeling import load_model as load_model_defined
    from kear.predictor import predict_records as predict_defined

    assert (Prediction, load_model, predict_records) == (defined, load_model_defined, predict_defined)
    assert kear.__version__ == importlib.import_module("kear.cli").__version__


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        kear.nope  # noqa: B018
    with pytest.raises(ImportError):
        exec("from kear import nope", {})


@pytest.mark.parametrize(
    "code",
    [
        "import kear",
        "import kear; kear.__version__; dir(kear)",
        # what the console script runs for --version and --help
        "from kear.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "version", "kear --version"],
)
def test_importing_kear_loads_no_torch(code: str) -> None:
    check = f"{code}\nimport sys\nprint(sorted({{'torch', 'transformers'}} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_predicting_imports_evaluate_only_to_compute_a_metric() -> None:
    """``evaluate`` imports transformers' pipelines (seconds): it loads when an accuracy is computed, not before."""
    code = (
        "import sys, kear.prediction, kear.predictor, kear.training\n"
        "before = 'evaluate' in sys.modules\n"
        "from kear.metrics import accuracy\n"
        "print(before, accuracy([0, 1], [0, 0]), 'evaluate' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "0.5", "True"]


def test_the_checker_catches_a_missing_name() -> None:
    text = (
        "Use `kear.predict_records`, `kear.nope`, `kear.ensemble.combine`, `retrieval.read_records(path)` and\n"
        "`retrieval.conceptnet.verbalize`, not `kear.ensemble.nothing`; see docs/retrieval.md and kear.yaml.\n"
        "```python\nfrom kear import (\n    load_model,\n    missing_one,\n)\nfrom retrieval import annotate\n```\n"
        "```bash\naccelerate launch -m kear.cli train\n```\n"
    )
    assert documented_names(text) == {
        "kear.predict_records",
        "kear.nope",
        "kear.ensemble.combine",
        "kear.ensemble.nothing",
        "kear.load_model",
        "kear.missing_one",
        "kear.cli",
        "retrieval.read_records",
        "retrieval.conceptnet.verbalize",
        "retrieval.annotate",
    }
    assert unresolved(text) == ["kear.ensemble.nothing", "kear.missing_one", "kear.nope"]


@pytest.mark.parametrize(
    "document",
    [
        "README.md",
        "kear/templates/model_card.md",
        *sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("docs/*.md")),
    ],
)
def test_the_names_the_docs_use_exist(document: str) -> None:
    text = (REPO / document).read_text()
    assert unresolved(text) == [], f"{document} names what kear and retrieval do not have"


def test_the_readme_uses_the_api() -> None:
    used = documented_names((REPO / "README.md").read_text())
    assert {"kear.predict_records", "kear.load_model", "retrieval.read_records"} <= used
