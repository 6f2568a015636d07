"""The package as ``pip install`` gives it: a wheel built from the tree, in a fresh virtual environment.

torch and the other dependencies come from the test's own environment (through a ``.pth`` file); the point is
the package's own files, which an editable install hides.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tracked_files() -> list[str]:
    """The tree's files as a clean clone has them (tracked, and new ones git does not ignore)."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the git checkout to know the tree's files")
    listing = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [name for name in listing.stdout.splitlines() if (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree") / "kear-tree"
    for name in tracked_files():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(tree)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    [built] = out.glob("kear-*.whl")
    return built


def test_the_wheel_holds_every_package_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    package_files = [n for n in tracked_files() if n.startswith(("kear/", "retrieval/")) and not n.endswith(".pyc")]
    assert package_files and [n for n in package_files if n not in names] == []
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "configs/"))]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed: its bin folder."""
    root = tmp_path_factory.mktemp("venv") / "env"
    venv.create(root, with_pip=False, symlinks=True)
    bin_dir = root / ("Scripts" if os.name == "nt" else "bin")
    site = Path(
        subprocess.run(
            [str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the dependencies from this environment; its own .pth files (kear's editable install) are not read from there
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(bin_dir / "python")]
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return bin_dir


def run(bin_dir: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environment.update(PATH=f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}", HF_HUB_OFFLINE="1")
    return subprocess.run(
        args, cwd=cwd, env=environment, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
    )


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    code = "import kear, retrieval; print(kear.__file__); print(retrieval.__file__)"
    result = run(installed, [str(installed / "python"), "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    for path in result.stdout.split():
        assert Path(path).is_relative_to(installed.parent), path


def test_demo_and_push_from_the_installed_package(installed: Path, tiny_deberta: Path, tmp_path: Path) -> None:
    work = tmp_path / "demo"
    settings = [f"model={tiny_deberta}", "seeds=[1]", "epochs=1", "max_length=48"]
    demo = run(installed, ["kear", "demo", "--workdir", str(work), "--no-progress", *settings], tmp_path)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert demo.stdout.startswith("| model | dev accuracy") and "with knowledge, seed 1" in demo.stdout
    upload = tmp_path / "upload"
    model = work / "runs" / "knowledge-seed1" / "best"
    pushed = run(installed, ["kear", "push", str(model), "someone/kear-demo", "--dry-run", str(upload)], tmp_path)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    card = (upload / "README.md").read_text()
    for local in (str(tmp_path), str(REPO), str(installed.parent), str(tiny_deberta.parent)):
        assert local not in card
    assert not re.search(r"(?<![\w.:])(/tmp/|/root/|/home/)", card)
    assert "kear demo sample (generated)" in card and "commonsense_qa" not in card.split("---")[1]
