"""The plain-transformers baseline: ``AutoModelForMultipleChoice`` + ``Trainer``, the way a tutorial trains.

Benchmarks and studies compare kear's loop with it on the same token ids (:func:`kear.encode_records`, so
without knowledge the inputs are identical) and the same optimisation settings. Knowledge is kear's business:
the baseline is meant for the no-knowledge condition.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TrainConfig, TrainingConfig
from .evaluation import Prediction, predictions_for
from .inputs import Example, encode_records
from .modeling import resolve_model_path

logger = logging.getLogger(__name__)


def trainer_rows(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Examples in the layout ``DataCollatorForMultipleChoice`` takes: one list per choice."""
    return [
        {
            "input_ids": [row.tolist() for row in example.input_ids],
            **(
                {}
                if example.token_type_ids is None
                else {"token_type_ids": [t.tolist() for t in example.token_type_ids]}
            ),
            "attention_mask": [[1] * len(row) for row in example.input_ids],
            "label": example.label,
        }
        for example in examples
    ]


class _LengthDroppingCollator:
    """``DataCollatorForMultipleChoice`` for rows that also carry a ``length`` (the sampler's): it would try to
    split the number by choice."""

    def __init__(self, tokenizer: Any) -> None:
        from transformers import DataCollatorForMultipleChoice

        self.collate = DataCollatorForMultipleChoice(tokenizer)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return self.collate([{k: v for k, v in row.items() if k != "length"} for row in rows])


def fit_trainer(
    encoder: str,
    tokenizer: Any,
    train: Sequence[Example],
    training: TrainingConfig,
    folder: Path,
    dev: Sequence[Example] | None = None,
    group_by_length: bool = False,
    attention_dropout: float | None = None,
):
    """A ``Trainer`` fitted with kear's optimisation settings (batch size, learning rate, weight decay, warmup
    ratio, linear schedule, seed, mixed precision, ``max_steps`` else ``epochs``).

    Args:
        encoder: the pretrained encoder's name or folder.
        tokenizer: its tokenizer (the collator pads with it).
        train: the training examples.
        training: kear's optimisation settings.
        folder: the Trainer's output folder.
        dev: examples to evaluate after every epoch; the best epoch's model is the one kept at the end.
        group_by_length: transformers' own length grouping, as a careful user sets it up: a ``datasets.Dataset``
            with a ``length`` column holding each question's longest choice (without it the sampler would measure
            the number of choices), kept through the Trainer's column removal and dropped by the collator.
        attention_dropout: the encoder's dropout on attention probabilities (``None``: its own), as
            ``model.attention_dropout`` sets it for kear.
    """
    from transformers import AutoConfig, AutoModelForMultipleChoice, Trainer, TrainingArguments

    from .modeling import set_attention_dropout

    torch.manual_seed(training.seed)
    config = AutoConfig.from_pretrained(resolve_model_path(encoder))
    set_attention_dropout(config, attention_dropout, encoder)
    model = AutoModelForMultipleChoice.from_pretrained(resolve_model_path(encoder), config=config)
    rows = trainer_rows(train)
    grouping: dict[str, Any] = {}
    if group_by_length:
        import datasets

        rows = datasets.Dataset.from_list([{**row, "length": len(max(row["input_ids"], key=len))} for row in rows])
        grouping = {"train_sampling_strategy": "group_by_length", "remove_unused_columns": False}
    steps = {"max_steps": training.max_steps} if training.max_steps else {"num_train_epochs": training.epochs}
    per_epoch = {"eval_strategy": "epoch", "save_strategy": "epoch", "load_best_model_at_end": True}
    arguments = TrainingArguments(
        output_dir=str(folder),
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.eval_batch_size or training.batch_size,
        learning_rate=training.learning_rate,
        weight_decay=training.weight_decay,
        warmup_steps=training.warmup_ratio,  # a number below 1 is a share of the steps
        lr_scheduler_type="linear",
        seed=training.seed,
        logging_steps=10,
        report_to=[],
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        bf16=training.mixed_precision == "bf16",  # kear's training.mixed_precision, as the Trainer spells it
        fp16=training.mixed_precision == "fp16",
        **grouping,
        **(
            {**per_epoch, "metric_for_best_model": "accuracy", "save_only_model": True}
            if dev
            else {"save_strategy": "no"}
        ),
        **steps,
    )
    accuracy = lambda output: {"accuracy": float((np.argmax(output.predictions, -1) == output.label_ids).mean())}  # noqa: E731
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=rows,
        eval_dataset=trainer_rows(dev) if dev else None,
        data_collator=_LengthDroppingCollator(tokenizer),  # DataCollatorForMultipleChoice where there is no length
        compute_metrics=accuracy if dev else None,
    )
    trainer.train()
    return trainer


def trainer_predictions(trainer: Any, examples: Sequence[Example]) -> list[Prediction]:
    """The fitted Trainer's predictions, as kear's (log-probabilities of its logits)."""
    output = trainer.predict(trainer_rows(examples))
    return predictions_for(examples, output.predictions.tolist())


def trainer_runs(config: TrainConfig, rates: Sequence[float], folder: Path):
    """For ``kear ablate``: one Trainer per learning rate on the inner split of ``folder``, evaluated every epoch.

    Returns the inner accuracies per rate and epoch, and a function scoring held-out records with the chosen run.
    """
    from transformers import AutoTokenizer

    from retrieval.records import read_records

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.model.name_or_path))
    encode = lambda records: list(encode_records(records, tokenizer, config.inputs))  # noqa: E731
    train, dev = (encode(read_records(folder / f"inner-{part}.jsonl")) for part in ("train", "dev"))
    runs, trainers = {}, {}
    for i, rate in enumerate(rates):
        settings = replace(config.training, learning_rate=rate)
        trainers[rate] = fit_trainer(
            config.model.name_or_path,
            tokenizer,
            train,
            settings,
            folder / "runs" / str(i),
            dev,
            attention_dropout=config.model.attention_dropout,  # as kear's runs of the same recipe
        )
        history = trainers[rate].state.log_history
        runs[rate] = [entry["eval_accuracy"] for entry in history if "eval_accuracy" in entry]

    def scorer(rate: float, epoch: int, held_out: list) -> list[Prediction]:
        # load_best_model_at_end put the best epoch's weights back: the one _select picked for this rate
        return trainer_predictions(trainers[rate], encode(held_out))

    return runs, scorer
