"""``kear push``: a trained model folder to a Hub repository, with a model card worth publishing.

The upload folder holds the model (safetensors), its config (with the input and retrieval settings), the
tokenizer, the training configuration, the run's results when known, and a ``README.md`` model card rendered
from ``templates/model_card.md``. Local paths do not travel: in the staged copies every absolute path becomes its
last component (the model folder itself is not touched). ``--dry-run`` writes exactly that folder instead of
uploading it, and ``kear predict`` loads it, or the Hub repository, the same way.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path, PureWindowsPath
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData, create_repo, upload_folder
from huggingface_hub.repocard_data import EvalResult

from retrieval.errors import KearError, first_line
from retrieval.hub import looks_like_hub_id
from retrieval.outputs import atomic_path
from retrieval.source import segments

from . import __version__

logger = logging.getLogger(__name__)

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
# Licenses of the encoders kear's recipes start from; a fine-tuned model inherits its base model's terms.
BASE_LICENSES = {
    "sentence-transformers/all-MiniLM-L6-v2": "apache-2.0",
    "microsoft/deberta-v3-large": "mit",
    "microsoft/deberta-v2-xxlarge": "mit",
    "google/electra-large-discriminator": "apache-2.0",
}


def _read(folder: Path, name: str) -> Any:
    path = folder / name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/])")  # POSIX, home-relative and Windows absolute paths
DATA_FILES = (".json", ".jsonl", ".parquet", ".arrow", ".csv", ".gz", ".txt")


def without_local_paths(value: Any) -> Any:
    """``value`` with every absolute path (``/...``, ``~/...``, ``C:\\...``) replaced by its last component, at any
    depth."""
    if isinstance(value, dict):
        return {key: without_local_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_local_paths(item) for item in value]
    if isinstance(value, str) and _ABSOLUTE.match(value) and "\n" not in value:
        return PureWindowsPath(value).name if ":" in value[:2] else (Path(value).name or value)
    return value


def _publishable(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """Retrieval settings as they travel: no local paths, and the cache back at its default (a cache folder
    named after the trainer's would otherwise appear in every user's working folder)."""
    if not settings:
        return settings
    return {**without_local_paths(settings), "cache_dir": None}


def _dataset(training: dict[str, Any]) -> str | None:
    """What the model was trained on: ``data.name``, or ``data.train`` when that is a Hub id."""
    data = training.get("data") or {}
    if data.get("name"):
        return str(data["name"])
    train = str(data.get("train") or "")
    local = Path(train).exists() or train.lower().endswith(DATA_FILES)
    return train if looks_like_hub_id(train) and not local else None


def _hyperparameters(training: dict[str, Any], results: dict[str, Any]) -> list[tuple[str, Any]]:
    settings, inputs = training.get("training") or {}, training.get("inputs") or {}
    length, accumulation = settings.get("max_steps"), settings.get("gradient_accumulation_steps") or 1
    batch = settings.get("batch_size")
    rows = [
        ("learning rate", settings.get("learning_rate")),
        ("examples per optimizer step", None if batch is None else batch * accumulation),
        ("gradient accumulation steps", accumulation),
        ("max steps" if length else "epochs", length or settings.get("epochs")),
        ("seed", settings.get("seed")),
        ("optimizer", f"AdamW (epsilon {settings.get('adam_epsilon')})"),
        ("weight decay", settings.get("weight_decay")),
        ("warmup ratio", settings.get("warmup_ratio")),
        ("scheduler", settings.get("scheduler")),
        ("layer-wise learning-rate decay", settings.get("layerwise_lr_decay")),
        ("max length (tokens per choice)", inputs.get("max_length")),
        ("mixed precision", settings.get("mixed_precision")),
        ("processes", results.get("num_processes")),
        ("LoRA rank", (training.get("lora") or {}).get("r") if (training.get("lora") or {}).get("enabled") else None),
    ]
    return [(name, value) for name, value in rows if value is not None]


def model_card(model_dir: str | Path, repo_id: str, *, license: str | None = None, language: str = "en") -> ModelCard:
    """The model card of a model folder: base model, knowledge, data, hyperparameters, results, versions, usage.

    Args:
        model_dir: a model folder (``kear train``'s ``best``, or an upload folder).
        repo_id: the Hub repository it goes to (named in the usage snippets).
        license: the card's license (``None``: the base model's, when kear knows it; otherwise ``other``).
        language: the language of the questions.
    """
    folder = Path(model_dir)
    config = _read(folder, "config.json") or {}
    training = _read(folder, "train_config.yaml") or {}
    results = _read(folder, "results.json") or {}
    base = config.get("base_model")
    base = base if base and looks_like_hub_id(base) else None
    encoder = (training.get("model") or {}).get("name_or_path") or "unknown"
    if license is None:
        license = BASE_LICENSES.get(base or "", "other")
        if license == "other":
            logger.warning("no license given and none known for the base model: the card says 'other' (--license)")
    dataset = _dataset(training)
    hub_dataset = dataset if dataset and looks_like_hub_id(dataset) else None
    knowledge = (config.get("inputs") or {}).get("knowledge", [])
    history = [h for h in results.get("history", []) if h.get("dev_accuracy") is not None]
    best = results.get("best_accuracy")
    eval_results = None
    if hub_dataset and best is not None:
        eval_results = [
            EvalResult(
                task_type="multiple-choice",
                dataset_type=hub_dataset,
                dataset_name=hub_dataset,
                dataset_split="validation",
                metric_type="accuracy",
                metric_value=round(float(best), 4),
            )
        ]
    card_data = ModelCardData(
        base_model=base,
        datasets=[hub_dataset] if hub_dataset else None,
        language=[language],
        license=license,
        library_name="kear",
        tags=["kear", "multiple-choice", "commonsense-qa", "knowledge-augmented"],
        metrics=["accuracy"],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results,
    )
    settings = without_local_paths({k: v for k, v in training.items() if k != "retrieval"})
    retrieval = _publishable(config.get("retrieval") or training.get("retrieval"))
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        base_model=f"[`{base}`](https://huggingface.co/{base})" if base else f"`{without_local_paths(encoder)}`",
        encoder_type=(config.get("encoder") or {}).get("model_type", "unknown"),
        dataset=f"[`{hub_dataset}`](https://huggingface.co/datasets/{hub_dataset})" if hub_dataset else dataset,
        head=config.get("head", "first_token"),
        classifier_dropout=config.get("classifier_dropout", 0.1),
        segments=" [SEP] ".join(knowledge) if knowledge else "(no knowledge)",
        max_length=(config.get("inputs") or {}).get("max_length", 512),
        knowledge_sources=_captions(knowledge) or ["none: plain multiple choice"],
        retrieval_yaml=yaml.safe_dump(retrieval, sort_keys=False) if retrieval else "",
        hyperparameters=_hyperparameters(training, results),
        history=history,
        best=None if best is None else round(float(best), 4),
        best_epoch=results.get("best_epoch"),
        versions=sorted((config.get("framework_versions") or {}).items()),
        kear_version=(config.get("framework_versions") or {}).get("kear", __version__),
        training_yaml=yaml.safe_dump(settings, sort_keys=False) if settings else "",
    )


def _captions(knowledge: list[str]) -> list[str]:
    """What each knowledge segment is, as its source describes it (a segment no source declares: its name)."""
    declared = segments()
    return [declared[name].caption if name in declared else name for name in knowledge]


def is_upload_folder(folder: Path) -> bool:
    """Whether a folder is one that ``kear push --dry-run`` wrote (only those are replaced by another)."""
    try:
        config = _read(folder, "config.json") if (folder / "README.md").is_file() else None
    except ValueError:
        return False
    return isinstance(config, dict) and config.get("model_type") == "kear"


def build_upload_folder(
    model_dir: str | Path, target: Path, repo_id: str, *, license: str | None = None, language: str = "en"
) -> Path:
    """Fill ``target`` with what ``kear push`` uploads (local paths removed from the copies)."""
    from .modeling import check_model_folder  # torch, only when a folder is staged

    folder = check_model_folder(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name in (*MODEL_FILES, *TOKENIZER_FILES):
        if (folder / name).is_file():
            shutil.copy2(folder / name, target / name)
    for shard in folder.glob("model-*.safetensors"):
        shutil.copy2(shard, target / shard.name)
    if not (target / "results.json").exists() and (folder.parent / "results.json").is_file():
        shutil.copy2(folder.parent / "results.json", target / "results.json")
    config = without_local_paths(_read(target, "config.json"))
    config["retrieval"] = _publishable(config.get("retrieval"))
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if (target / "train_config.yaml").is_file():
        training = without_local_paths(_read(target, "train_config.yaml"))
        training["retrieval"] = _publishable(training.get("retrieval"))
        (target / "train_config.yaml").write_text(yaml.safe_dump(training, sort_keys=False), encoding="utf-8")
    model_card(target, repo_id, license=license, language=language).save(target / "README.md")
    return target


def push(
    model_dir: str | Path,
    repo_id: str,
    *,
    dry_run: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
    license: str | None = None,
    language: str = "en",
    commit_message: str = "Upload kear model",
    overwrite: bool = False,
) -> str:
    """Upload a model folder to ``repo_id`` (one commit), or with ``dry_run`` write the upload folder there.

    Args:
        model_dir: a model folder (``kear train``'s ``best``).
        repo_id: the Hub repository, ``owner/name``.
        dry_run: write the upload folder here and upload nothing.
        private: create the repository as private.
        token: a Hub token (default: the one ``hf auth login`` saved).
        license: the model card's license (default: the base model's when known).
        language: the language of the questions, for the card.
        commit_message: the upload's commit message.
        overwrite: with ``dry_run``, replace a folder there that is not an upload folder kear wrote.

    Returns the repository's URL, or the dry-run folder. Nothing is left half-done: the folder is staged apart and
    uploaded in a single commit.
    """
    from .modeling import check_model_folder  # torch, only when pushing

    check_model_folder(model_dir)
    if dry_run is not None:
        with atomic_path(
            dry_run, folder=True, overwrite=overwrite, inputs=[model_dir], owned=is_upload_folder
        ) as staging:
            build_upload_folder(model_dir, staging, repo_id, license=license, language=language)
        return str(dry_run)
    with tempfile.TemporaryDirectory(prefix="kear-push-") as folder:
        staging = build_upload_folder(model_dir, Path(folder) / "upload", repo_id, license=license, language=language)
        try:
            url = create_repo(repo_id, private=private, token=token, exist_ok=True)
            upload_folder(repo_id=repo_id, folder_path=staging, token=token, commit_message=commit_message)
        except Exception as error:  # network, offline mode, authentication: all end the same way
            first = first_line(error)
            raise KearError(f"cannot push to the Hub ({type(error).__name__}: {first}); nothing was uploaded") from None
    return str(url)
