"""The README and docs/*.md as a user runs them: every shell and Python block, from a folder outside the repository.

The workspace holds what a user would have downloaded, under the names the documents use, made from the sample
bundled with kear: the ConceptNet and Wiktionary dumps (gzipped) and CommonsenseQA's JSONL files in data/csqa/.
The blocks run in the order they are written, README first, so each can use what the ones before it made.

Only what cannot run here is substituted: KEAR's DeBERTa-v3-large recipe becomes the same recipe with a tiny model
(no download), and the GPU launch configs become the 2-process CPU one (so the launches still start 2 processes).
A model the documents load by Hub id comes from a local stand-in for the Hub: a Hub cache holding what they pushed
with ``--dry-run`` (tests/hubcache.py), read with ``HF_HUB_OFFLINE=1`` as after a real download. Every other recipe
is the one kear ships, found by its name (``--config train/tiny``, ``"$(kear recipe path accelerate/cpu-2proc)"``)
as a user outside a clone finds it. A block that cannot run at all says why, in a ``<!-- test: skip (why) -->``
line right above it; every other block runs.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kear.recipes import recipe_path
from retrieval.data import sample_file

from .hubcache import publish

REPO = Path(__file__).resolve().parents[1]
HUB_REPO = "someone/kear-deberta-v3-large"  # the repository the documents push to and load from
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL, PYTHON = ("bash", "sh", "shell", "console"), ("python", "py")
SKIP = re.compile(r"^<!-- test: skip \((.+)\) -->$")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None  # why it cannot run here, if it cannot

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, each with the skip reason written above it."""
    lines = document.read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        above = next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        skip = SKIP.match(above)
        text = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(document, index + 1, opening.group(1).lower(), text, skip.group(1) if skip else None))
        index = end + 1
    return found


RUNNABLE = [b for d in DOCUMENTS for b in blocks(d) if b.language in SHELL + PYTHON]


def test_every_command_block_runs_or_says_why_not() -> None:
    assert len(RUNNABLE) >= 8, "the README and docs have lost their examples"
    skipped = [b for b in RUNNABLE if b.skip is not None]
    assert all(len(b.skip) > 10 for b in skipped)  # a reason, not a word
    assert len(skipped) <= len(RUNNABLE) // 3, [b.name for b in skipped]  # most of them run


def tiny_recipe(workspace: Path, encoder: Path) -> Path:
    """KEAR's DeBERTa-v3-large recipe with a tiny encoder and CPU-sized settings; paths and data as they are."""
    recipe = yaml.safe_load(recipe_path("train/deberta-v3-large").read_text())
    recipe["model"]["name_or_path"] = str(encoder)
    recipe["inputs"]["max_length"] = 64
    recipe["training"].update(
        epochs=1, batch_size=4, learning_rate=3e-3, mixed_precision="no", save_steps=None, logging_steps=2
    )
    path = workspace / "deberta-v3-large.tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, tiny_deberta: Path) -> Path:
    """A folder outside the repository holding the downloads the documents name, made from the bundled sample."""
    root = tmp_path_factory.mktemp("user")
    for dump, name in [
        ("conceptnet-assertions.csv", "conceptnet-assertions-5.7.0.csv.gz"),
        ("kaikki-english.jsonl", "kaikki.org-dictionary-English.jsonl.gz"),
    ]:
        (root / name).write_bytes(gzip.compress(sample_file(dump).read_bytes()))
    csqa = root / "data" / "csqa"
    csqa.mkdir(parents=True)
    shutil.copy(sample_file("train.jsonl"), csqa / "train_rand_split.jsonl")
    shutil.copy(sample_file("questions.jsonl"), csqa / "dev_rand_split.jsonl")
    shutil.copy(sample_file("questions.jsonl"), root / "questions.jsonl")
    no_answers = [re.sub(r'"answerKey": "[A-E]", ', "", line) for line in sample_file("questions.jsonl").open()]
    assert not any("answerKey" in line for line in no_answers)
    (csqa / "test_rand_split_no_answers.jsonl").write_text("".join(no_answers))
    tiny_recipe(root, tiny_deberta)
    return root


def substitute(text: str, workspace: Path) -> str:
    """What cannot run here, replaced by what can (see the module's docstring)."""
    tiny = str(workspace / "deberta-v3-large.tiny.yaml")
    text = text.replace("--config train/deberta-v3-large", f"--config {tiny}")
    text = text.replace('recipe_path("train/deberta-v3-large")', repr(tiny))
    for gpus in ("accelerate/deepspeed-zero2", "accelerate/ddp"):
        text = text.replace(f"kear recipe path {gpus})", "kear recipe path accelerate/cpu-2proc)")
    return text


def environment(workspace: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "PYTEST_", "KEAR_"))}
    return {
        **keep,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # kear, python, torchrun
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(workspace / "hub"),  # the stand-in for the Hub: see on_the_hub
        "KEAR_CACHE": str(workspace / "cache"),
    }


def on_the_hub(text: str, workspace: Path) -> None:
    """Publish what the README pushed (``kear push ... --dry-run upload``) to the stand-in for the Hub, once a block
    names the repository: then ``--model someone/kear-deberta-v3-large`` downloads it, knowledge and all, as a
    user's machine would (tests/hubcache.py)."""
    if HUB_REPO in text and not (workspace / "hub").exists():
        assert (workspace / "upload" / "config.json").is_file(), "the README pushes upload/ before using the model"
        publish(workspace / "upload", HUB_REPO, workspace / "hub")


def run(block: Block, workspace: Path, text: str | None = None) -> subprocess.CompletedProcess:
    text = substitute(block.text if text is None else text, workspace)
    if "kear push" not in text:
        on_the_hub(text, workspace)
    command = ["bash", "-euo", "pipefail", "-c", text] if block.language in SHELL else [sys.executable, "-c", text]
    return subprocess.run(
        command,
        cwd=workspace,
        env=environment(workspace),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.name)
def test_block(block: Block, workspace: Path) -> None:
    if block.skip is not None:
        pytest.skip(block.skip)
    assert REPO not in workspace.parents and workspace != REPO
    result = run(block, workspace)
    assert result.returncode == 0, f"{block.name} failed:\n{block.text}\n{result.stderr[-4000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-4000:]


def test_the_model_cards_python_snippet_runs(workspace: Path) -> None:
    """The card of a pushed model shows a snippet; run it against the upload folder the README wrote."""
    card = workspace / "upload" / "README.md"
    assert card.is_file(), "the README's workflow writes upload/ with kear push --dry-run"
    kear_api, transformers_api = [b for b in blocks(card) if b.language in PYTHON]
    assert f'load_model("{HUB_REPO}")' in kear_api.text and f'model="{HUB_REPO}"' in transformers_api.text
    # both by Hub id (the stand-in holds the upload, knowledge and all), in one interpreter: each loads a model
    both = f"{kear_api.text}\nprint('-- transformers --')\n{transformers_api.text}"
    result = run(kear_api, workspace, both)
    assert result.returncode == 0, result.stderr[-4000:]
    kear_lines, transformers_lines = result.stdout.split("-- transformers --\n")
    assert kear_lines.count("\n") >= 12  # a line per sample question
    assert "'score':" in transformers_lines
