"""The plain-transformers baseline: Trainer with its own length grouping measures each question's longest choice."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from kear.baseline import fit_trainer, trainer_predictions
from kear.config import TrainingConfig
from kear.inputs import InputConfig, encode_records
from retrieval import read_records
from retrieval.data import sample_file


def test_length_grouping_measures_the_longest_choice(tiny_deberta: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_deberta)
    examples = list(encode_records(read_records(sample_file("train.jsonl")), tokenizer, InputConfig(max_length=48)))
    training = TrainingConfig(max_steps=1, batch_size=4, learning_rate=1e-3, seed=0)
    trainer = fit_trainer(str(tiny_deberta), tokenizer, examples, training, tmp_path, group_by_length=True)
    sampler = trainer._get_train_sampler(trainer.train_dataset)
    longest = [max(len(row) for row in e.input_ids) for e in examples]
    assert type(sampler).__name__ == "LengthGroupedSampler" and sampler.lengths == longest
    assert len(set(longest)) > 1  # not the number of choices, which every question shares
    assert len(trainer_predictions(trainer, examples[:3])) == 3


def test_attention_dropout_reaches_the_trainer_model(tiny_deberta: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_deberta)
    examples = list(encode_records(read_records(sample_file("train.jsonl")), tokenizer, InputConfig(max_length=48)))
    training = TrainingConfig(max_steps=1, batch_size=4, learning_rate=1e-3, seed=0)
    trainer = fit_trainer(str(tiny_deberta), tokenizer, examples, training, tmp_path, attention_dropout=0.05)
    assert trainer.model.config.attention_probs_dropout_prob == 0.05


def test_the_trainer_takes_kears_mixed_precision(tiny_deberta: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_deberta)
    examples = list(encode_records(read_records(sample_file("train.jsonl")), tokenizer, InputConfig(max_length=48)))
    training = TrainingConfig(max_steps=1, batch_size=4, learning_rate=1e-3, seed=0, mixed_precision="bf16")
    trainer = fit_trainer(str(tiny_deberta), tokenizer, examples, training, tmp_path)
    assert trainer.args.bf16 and not trainer.args.fp16
    assert trainer.accelerator.mixed_precision == "bf16"


def test_ablate_trainer_runs_take_the_recipes_attention_dropout(tiny_deberta: Path, tmp_path: Path) -> None:
    from kear.baseline import trainer_runs
    from kear.config import ModelConfig, TrainConfig
    from retrieval import write_records

    records = list(read_records(sample_file("train.jsonl")))
    write_records(tmp_path / "inner-train.jsonl", records[:8])
    write_records(tmp_path / "inner-dev.jsonl", records[8:12])
    config = TrainConfig(
        model=ModelConfig(name_or_path=str(tiny_deberta), attention_dropout=0.05),
        inputs=InputConfig(max_length=48),
        training=TrainingConfig(epochs=1, batch_size=4, seed=0),
    )
    runs, _ = trainer_runs(config, [1e-3], tmp_path)
    assert len(runs[1e-3]) == 1  # evaluated after its one epoch
    (checkpoint,) = (tmp_path / "runs" / "0").glob("checkpoint-*")  # the model the Trainer trained
    assert AutoConfig.from_pretrained(checkpoint).attention_probs_dropout_prob == 0.05
    assert AutoConfig.from_pretrained(tiny_deberta).attention_probs_dropout_prob != 0.05  # the recipe changed it
