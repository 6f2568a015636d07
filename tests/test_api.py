"""The public Python API: what ``from kear import ...`` and ``from retrieval import ...`` offer, and what the README
and the model card promise of it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import kear
import retrieval

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", [kear, retrieval], ids=lambda p: p.__name__)
def test_every_public_name_resolves(package) -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        kear.nope  # noqa: B018


def test_importing_kear_loads_no_torch() -> None:
    # the console script imports kear for --version and --help: that must stay quick
    code = "import sys, kear; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_names_the_readme_and_the_card_use_exist() -> None:
    texts = [(REPO / "README.md").read_text(), (REPO / "kear" / "templates" / "model_card.md").read_text()]
    used = set()
    for text in texts:
        # kear.train, retrieval.annotate... (not docs/retrieval.md, nor python -m kear.cli or retrieval.data)
        found = re.findall(r"(?<![\w/.-])(kear|retrieval)\.(\w+)\b", text)
        used |= {(package, name) for package, name in found if name not in ("md", "cli", "data")}
        for package, names in re.findall(r"^from (kear|retrieval) import (.+)$", text, flags=re.MULTILINE):
            used |= {(package, name.strip()) for name in names.split(",")}
    assert ("kear", "predict_records") in used and ("retrieval", "read_records") in used
    for package, name in sorted(used):
        module = kear if package == "kear" else retrieval
        assert name in module.__all__, f"{package}.{name} is used in the docs but not part of the API"
