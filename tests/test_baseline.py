"""The plain-transformers baseline: Trainer with its own length grouping measures each question's longest choice."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer

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
