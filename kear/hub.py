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
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData, create_repo, upload_folder
from huggingface_hub.repocard_data import EvalResult

from retrieval.bundle import HUB_PREFIX, MANIFEST, split_hub_location, without_local_paths, write_bundle
from retrieval.errors import ConfigError, KearError, first_line
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


DATA_FILES = (".json", ".jsonl", ".parquet", ".arrow", ".csv", ".gz", ".txt")


def _publishable(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """Retrieval settings as they travel: no local paths, and the cache back at its default (a cache folder
    named after the trainer's would otherwise appear in every user's working folder)."""
    if not settings:
        return settings
    return {**without_local_paths(settings), "cache_dir": None}


def _is_hub_dataset(name: str) -> bool:
    """Whether ``name`` is a Hub dataset id rather than a local file or folder."""
    return looks_like_hub_id(name) and not (Path(name).exists() or name.lower().endswith(DATA_FILES))


def _dataset(training: dict[str, Any]) -> str | None:
    """What the model was trained on: ``data.name``, or ``data.train`` when that is a Hub id."""
    data = training.get("data") or {}
    if data.get("name"):
        return str(data["name"])
    train = str(data.get("train") or "")
    return train if _is_hub_dataset(train) else None


def evaluated_on(training: dict[str, Any], results: dict[str, Any]) -> dict[str, Any] | None:
    """What the dev accuracy of a run was measured on, as the card states it: ``hub`` (a Hub dataset id, or
    ``None`` for a local file), ``split`` (of a Hub dataset or dataset folder), ``file`` (the local name),
    ``questions`` (how many, when known) and ``selected`` (whether the same data chose the epoch kept).
    ``None`` when no dev data was evaluated."""
    data = training.get("data") or {}
    dev = str(data.get("dev") or "")
    if not dev or results.get("best_accuracy") is None:
        return None
    hub = dev if _is_hub_dataset(dev) else None
    split = data.get("dev_split", data.get("split"))
    local_file = not hub and not Path(dev).is_dir() and Path(dev).suffix != ""
    evaluations = [h for h in results.get("history", []) if h.get("dev_accuracy") is not None]
    return {
        "hub": hub,
        "split": None if local_file else split or "validation",
        "file": None if hub else Path(dev).name,
        "questions": results.get("dev_records") or data.get("max_dev_records"),
        "selected": len(evaluations) > 1,
    }


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
    hub_dataset = dataset if dataset and _is_hub_dataset(dataset) else None
    knowledge = (config.get("inputs") or {}).get("knowledge", [])
    history = [h for h in results.get("history", []) if h.get("dev_accuracy") is not None]
    best = results.get("best_accuracy")
    evaluated = evaluated_on(training, results)
    eval_results = None
    if evaluated and evaluated["hub"]:  # a model-index entry only for a split anyone can fetch and check
        eval_results = [
            EvalResult(
                task_type="multiple-choice",
                dataset_type=evaluated["hub"],
                dataset_name=evaluated["hub"],
                dataset_split=evaluated["split"],
                metric_type="accuracy",
                metric_value=round(float(best), 4),
            )
        ]
    retrieval = _publishable(config.get("retrieval") or training.get("retrieval"))
    card_data = ModelCardData(
        base_model=base,
        datasets=[hub_dataset] if hub_dataset else None,
        language=[language],
        license=license,
        library_name="kear",
        pipeline_tag="multiple-choice",
        tags=["kear", "multiple-choice", "commonsense-qa", "knowledge-augmented"],
        metrics=["accuracy"],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results,
    )
    settings = without_local_paths({k: v for k, v in training.items() if k != "retrieval"})
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
        evaluated=evaluated,
        bundle=_bundle_text(folder, (retrieval or {}).get("bundle")),
        licences=_bundle_licences(folder, (retrieval or {}).get("bundle")),
        versions=sorted((config.get("framework_versions") or {}).items()),
        kear_version=(config.get("framework_versions") or {}).get("kear", __version__),
        training_yaml=yaml.safe_dump(settings, sort_keys=False) if settings else "",
    )


def _bundle_text(folder: Path, bundle: str | None) -> str | None:
    """Where the card says the model's knowledge is published (``None``: nowhere)."""
    if not bundle:
        return None
    if bundle.startswith(HUB_PREFIX):
        repo, revision = split_hub_location(bundle)
        at = f" at revision `{revision}`" if revision else ""
        return f"the dataset repository [`{repo}`](https://huggingface.co/datasets/{repo}){at}"
    return f"the `{bundle}/` folder of this repository"


def _bundle_licences(folder: Path, bundle: str | None) -> list[str]:
    """The terms of the knowledge published with the model, from its bundle's manifest when it is here."""
    manifest = folder / str(bundle) / MANIFEST if bundle and not bundle.startswith(HUB_PREFIX) else None
    if manifest is None or not manifest.is_file():
        return []
    return list(json.loads(manifest.read_text(encoding="utf-8")).get("licences", {}).values())


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


KNOWLEDGE = ("include", "none")
BUNDLE = "knowledge"  # the bundle's folder inside a model folder, as saved in its retrieval settings


def bundle_model_knowledge(model_dir: str | Path, target: Path, name: str) -> dict[str, Any] | None:
    """Write the knowledge bundle of a model folder's retrieval settings into ``target`` (see
    :func:`retrieval.bundle.write_bundle`); return the settings as they read the bundle (its place still to set),
    or ``None`` for a model with no retrieval settings.

    Raises:
        ConfigError: knowledge that cannot be bundled (an index that is not where the settings say), in one line.
    """
    from retrieval import RetrievalConfig, load_settings

    from .predictor import model_bundle

    values = (_read(Path(model_dir), "config.json") or {}).get("retrieval")
    if not values:
        return None
    try:
        settings = load_settings(RetrievalConfig, values=model_bundle(values, str(model_dir)))
        return write_bundle(settings, target, name=name)
    except KearError as error:
        raise ConfigError(
            f"{model_dir}: cannot bundle the knowledge it retrieves from ({error}); run from the folder it was "
            "trained in, or push without it (--knowledge none)"
        ) from None


def build_upload_folder(
    model_dir: str | Path,
    target: Path,
    repo_id: str,
    *,
    license: str | None = None,
    language: str = "en",
    knowledge: str = "include",
    bundled: dict[str, Any] | None = None,
) -> Path:
    """Fill ``target`` with what ``kear push`` uploads (local paths removed from the copies).

    Args:
        model_dir: the model folder.
        target: the upload folder.
        repo_id: the model's repository (named in the card).
        license: the card's license.
        language: the questions' language.
        knowledge: ``include``: the knowledge bundle goes into ``target/knowledge`` and the saved retrieval settings
            read it there; ``none``: the settings travel without it (users point them to their own indexes).
        bundled: retrieval settings of a bundle published elsewhere (``bundle: hf://datasets/...``), saved as they
            are in place of either.
    """
    from .modeling import check_model_folder  # torch, only when a folder is staged

    folder = check_model_folder(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name in (*MODEL_FILES, *TOKENIZER_FILES):
        if (folder / name).is_file():
            shutil.copy2(folder / name, target / name)
    for shard in folder.glob("model-*.safetensors"):
        shutil.copy2(shard, target / shard.name)
    if (folder / "adapter").is_dir():  # lora.save=both: the LoRA adapter on its own, in peft's format
        shutil.copytree(folder / "adapter", target / "adapter")
    if not (target / "results.json").exists() and (folder.parent / "results.json").is_file():
        shutil.copy2(folder.parent / "results.json", target / "results.json")
    if bundled is None and knowledge == "include":
        bundled = bundle_model_knowledge(folder, target / BUNDLE, f"{repo_id} knowledge")
        if bundled is not None:
            bundled["bundle"] = BUNDLE
    config = without_local_paths(_read(target, "config.json"))
    config["retrieval"] = bundled or _publishable(config.get("retrieval"))
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if (target / "train_config.yaml").is_file():
        training = without_local_paths(_read(target, "train_config.yaml"))
        training["retrieval"] = bundled or _publishable(training.get("retrieval"))
        (target / "train_config.yaml").write_text(yaml.safe_dump(training, sort_keys=False), encoding="utf-8")
    model_card(target, repo_id, license=license, language=language).save(target / "README.md")
    return target


def publish_bundle(model_dir: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> dict:
    """Publish a model folder's knowledge bundle as the Hub dataset ``repo_id``; return the retrieval settings that
    read it there, at the revision just uploaded (so later uploads to that repository change no model)."""
    with tempfile.TemporaryDirectory(prefix="kear-knowledge-") as folder:
        bundled = bundle_model_knowledge(model_dir, Path(folder) / BUNDLE, repo_id)
        if bundled is None:
            raise ConfigError(f"{model_dir}: the model has no retrieval settings, so no knowledge to publish")
        commit = _upload(Path(folder) / BUNDLE, repo_id, "dataset", private, token, "Upload kear knowledge")
    return {**bundled, "bundle": f"{HUB_PREFIX}{repo_id}@{commit.oid}"}


def _upload(folder: Path, repo_id: str, repo_type: str, private: bool, token: str | None, message: str) -> Any:
    """One commit of ``folder`` to a Hub repository (made if need be); its ``CommitInfo``."""
    try:
        create_repo(repo_id, repo_type=repo_type, private=private, token=token, exist_ok=True)
        return upload_folder(
            repo_id=repo_id, repo_type=repo_type, folder_path=folder, token=token, commit_message=message
        )
    except Exception as error:  # network, offline mode, authentication: all end the same way
        first = first_line(error)
        raise KearError(f"cannot push to the Hub ({type(error).__name__}: {first}); nothing was uploaded") from None


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
    knowledge: str = "include",
    knowledge_repo: str | None = None,
) -> str:
    """Upload a model folder to ``repo_id`` (one commit), or with ``dry_run`` write the upload folder there.

    Args:
        model_dir: a model folder (``kear train``'s ``best``).
        repo_id: the Hub repository, ``owner/name``.
        dry_run: write the upload folder here and upload nothing.
        private: create the repository (and the knowledge's) as private.
        token: a Hub token (default: the one ``hf auth login`` saved).
        license: the model card's license (default: the base model's when known).
        language: the language of the questions, for the card.
        commit_message: the upload's commit message.
        overwrite: with ``dry_run``, replace a folder there that is not an upload folder kear wrote.
        knowledge: ``include`` (default): the knowledge the model retrieves from (its indexes and examples, as its
            retrieval settings name them) goes with it, in ``knowledge/``, with its licences, so that the model
            predicts on any machine; ``none``: only the settings go, and users bring their own indexes.
        knowledge_repo: publish the knowledge as this Hub dataset repository instead (one bundle for many models);
            the model reads it at the revision uploaded. Not with ``dry_run``, which writes it into the folder.

    Returns the repository's URL, or the dry-run folder. Nothing is left half-done: the folder is staged apart and
    uploaded in a single commit (the knowledge repository first, in its own).
    """
    from .modeling import check_model_folder  # torch, only when pushing

    if knowledge not in KNOWLEDGE:
        raise ConfigError(f"knowledge must be one of {', '.join(KNOWLEDGE)}, got {knowledge!r}")
    if knowledge_repo is not None and (
        dry_run is not None or knowledge == "none" or not looks_like_hub_id(knowledge_repo)
    ):
        why = "a Hub id (owner/name)" if not looks_like_hub_id(knowledge_repo) else "an upload with --knowledge include"
        raise ConfigError(
            f"knowledge_repo {knowledge_repo!r}: it must be {why}; a dry run writes the knowledge into its folder"
        )
    check_model_folder(model_dir)
    settings = {"license": license, "language": language, "knowledge": knowledge}
    if dry_run is not None:
        with atomic_path(
            dry_run, folder=True, overwrite=overwrite, inputs=[model_dir], owned=is_upload_folder
        ) as staging:
            build_upload_folder(model_dir, staging, repo_id, **settings)
        return str(dry_run)
    bundled = publish_bundle(model_dir, knowledge_repo, private=private, token=token) if knowledge_repo else None
    with tempfile.TemporaryDirectory(prefix="kear-push-") as folder:
        staging = build_upload_folder(model_dir, Path(folder) / "upload", repo_id, bundled=bundled, **settings)
        _upload(staging, repo_id, "model", private, token, commit_message)
    return f"https://huggingface.co/{repo_id}"
