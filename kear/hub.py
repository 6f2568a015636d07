"""``kear push``: a trained model folder to a Hub repository, with a model card.

The upload folder holds the model (safetensors), its config (with the input and retrieval settings), the
tokenizer, the training configuration, the run's results when known, and a ``README.md`` model card rendered
from ``templates/model_card.md``. ``--dry-run`` writes exactly that folder instead of uploading it, and
``kear predict`` loads it, or the Hub repository, the same way.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData, create_repo, upload_folder
from huggingface_hub.repocard_data import EvalResult

from retrieval.errors import KearError
from retrieval.io import atomic_path

TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md"
MODEL_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "train_config.yaml", "results.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "spm.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)
SOURCE_NAMES = {
    "triple": "ConceptNet: one triple linking the question concept and the choice, in words",
    "qc_meaning": "Dictionary: the definition of the question concept",
    "ac_meaning": "Dictionary: the definition of the choice",
    "retrieval": "Similar training questions with their answers, found by BM25",
}


def _read(folder: Path, name: str) -> Any:
    path = folder / name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def model_card(model_dir: str | Path, repo_id: str) -> ModelCard:
    """The model card of a model folder: metrics, knowledge sources, training config, base model, citation."""
    folder = Path(model_dir)
    config = _read(folder, "config.json") or {}
    training = _read(folder, "train_config.yaml")
    results = _read(folder, "results.json") or {}
    base = (training or {}).get("model", {}).get("name_or_path") or config.get("encoder", {}).get("_name_or_path")
    inputs = config.get("inputs", {})
    knowledge = inputs.get("knowledge", [])
    metrics, eval_results = [], []
    if results.get("best_accuracy") is not None:
        value = round(float(results["best_accuracy"]), 4)
        metrics.append(
            {"split": f"dev (best of {len(results.get('history', []))} epochs)", "name": "accuracy", "value": value}
        )
        eval_results.append(
            EvalResult(
                task_type="multiple-choice",
                dataset_type="commonsense_qa",
                dataset_name="development set",
                metric_type="accuracy",
                metric_value=value,
            )
        )
    retrieval = config.get("retrieval")
    card_data = ModelCardData(
        base_model=base if base and not Path(str(base)).is_absolute() else None,
        library_name="transformers",
        tags=["kear", "multiple-choice", "commonsense-qa", "knowledge-augmented"],
        metrics=["accuracy"],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        base_model=base or "unknown",
        head=config.get("head", "first_token"),
        classifier_dropout=config.get("classifier_dropout", 0.1),
        segments=" [SEP] ".join(knowledge) if knowledge else "(no knowledge)",
        max_length=inputs.get("max_length", 512),
        knowledge_sources=[SOURCE_NAMES[k] for k in knowledge] or ["none: plain multiple choice"],
        retrieval_yaml=yaml.safe_dump(retrieval, sort_keys=False) if retrieval else "",
        metrics=metrics,
        training_yaml=yaml.safe_dump(training, sort_keys=False) if training else "",
    )


def build_upload_folder(model_dir: str | Path, target: Path, repo_id: str) -> Path:
    """Fill ``target`` with what ``kear push`` uploads."""
    folder = Path(model_dir)
    missing = [n for n in ("config.json", "model.safetensors") if not (folder / n).is_file()]
    if missing and not (folder / "model.safetensors.index.json").is_file():
        raise KearError(f"{folder}: not a kear model folder (missing {', '.join(missing)})")
    target.mkdir(parents=True, exist_ok=True)
    for name in (*MODEL_FILES, *TOKENIZER_FILES):
        if (folder / name).is_file():
            shutil.copy2(folder / name, target / name)
    for shard in folder.glob("model-*.safetensors"):
        shutil.copy2(shard, target / shard.name)
    if not (target / "results.json").exists() and (folder.parent / "results.json").is_file():
        shutil.copy2(folder.parent / "results.json", target / "results.json")
    model_card(target, repo_id).save(target / "README.md")
    return target


def push(
    model_dir: str | Path,
    repo_id: str,
    *,
    dry_run: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload kear model",
) -> str:
    """Upload a model folder to ``repo_id`` (one commit), or with ``dry_run`` write the upload folder there.

    Returns the repository's URL, or the dry-run folder. Nothing is left half-done: the folder is staged
    apart and uploaded in a single commit.
    """
    if dry_run is not None:
        with atomic_path(dry_run) as staging:
            build_upload_folder(model_dir, staging, repo_id)
        return str(dry_run)
    with tempfile.TemporaryDirectory(prefix="kear-push-") as folder:
        staging = build_upload_folder(model_dir, Path(folder) / "upload", repo_id)
        try:
            url = create_repo(repo_id, private=private, token=token, exist_ok=True)
            upload_folder(repo_id=repo_id, folder_path=staging, token=token, commit_message=commit_message)
        except Exception as error:  # network, offline mode, authentication: all end the same way
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise KearError(f"cannot push to the Hub ({type(error).__name__}: {first}); nothing was uploaded") from None
    return str(url)
