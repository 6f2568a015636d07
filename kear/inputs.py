"""From records with knowledge to token ids: KEAR's text-level external attention.

Each choice becomes one encoder input, the question and choice as the first sequence and the knowledge as
the second, so that self-attention also attends over the external knowledge::

    [CLS] question choice [SEP] definition of the concept [SEP] of the choice [SEP] examples [SEP] triple [SEP]

The knowledge segments, their order and which of them are used are settings; the segments themselves (their
names, where their text is on a record, how it reads) are declared by the knowledge sources
(:func:`retrieval.segments`). Inputs longer than ``max_length`` lose knowledge first, from the tail (or as
``segment_caps`` and ``truncation`` say: :mod:`kear.budget`); only if the question and choice alone are too long
does the question lose its first tokens (the choice, at the end, is kept). Special tokens and token types come from the
tokenizer itself, so the same code serves DeBERTa's SentencePiece, BERT's and ELECTRA's WordPiece and
RoBERTa's BPE.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from retrieval.settings import check_bool, check_int, check_texts
from retrieval.source import default_segments, segments

from .budget import SegmentSurvival, fit

if TYPE_CHECKING:
    from retrieval.records import Record

# Tokens per choice: enough for a pair's special tokens and a few of the question's; and no more than the
# longest-context encoders take (the encoder's own limit is checked when the model is built).
MIN_LENGTH = 8
MAX_LENGTH = 8192


@dataclass
class InputConfig:
    """How a question-choice pair and its knowledge become one encoder input.

    Args:
        max_length: tokens per choice, special tokens included: between :data:`MIN_LENGTH` and
            :data:`MAX_LENGTH`, and no more than the encoder's positions (checked when the model is built).
        knowledge: the knowledge segments after the question and choice, in order, by name (default: KEAR's,
            the definitions of the question concept and of the choice, similar training questions with their
            answers, and the ConceptNet triple in words; :func:`retrieval.segments` lists them all). Leave one
            out to switch that knowledge off; an empty list gives plain multiple choice.
        max_examples: retrieved examples to use per choice (``None``: all that the records carry; an integer
            >= 0).
        triple_fallback: for a choice without a triple, use the question concept and the choice instead (KEAR).
        segment_caps: tokens at most per segment, by name (its tail is cut): ``{examples: 48}``.
        truncation: when an input is too long, the segments to cut first, in order, each from its tail until it
            is gone: ``[examples, ac_meaning, qc_meaning]`` keeps the triple whole as long as anything can be.
            ``None`` (KEAR's): the knowledge is cut as one text from its tail, so the last segment goes first.

    Checked when built (a ``ValueError`` naming the setting): the ranges above; ``knowledge`` and
    ``truncation`` name each declared segment at most once; caps are integers >= 1 of declared segments.
    """

    max_length: int = 512
    knowledge: list[str] = field(default_factory=default_segments)
    max_examples: int | None = None
    triple_fallback: bool = True
    segment_caps: dict[str, int] = field(default_factory=dict)
    truncation: list[str] | None = None

    def __post_init__(self) -> None:
        declared = list(segments())
        check_int(self.max_length, "max_length", MIN_LENGTH, MAX_LENGTH)
        check_texts(self.knowledge, "knowledge", choices=declared, what="knowledge segment")
        check_int(self.max_examples, "max_examples", 0, optional=True)
        check_bool(self.triple_fallback, "triple_fallback")
        check_texts(list(self.segment_caps), "segment_caps", choices=declared, what="knowledge segment")
        for name, cap in self.segment_caps.items():
            check_int(cap, f"segment_caps.{name}", 1)
        if self.truncation is not None:
            check_texts(self.truncation, "truncation", choices=declared, what="knowledge segment")


def choice_pieces(record: Record, config: InputConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """For each choice: the first sequence (question and choice) and the knowledge pieces, in order.

    A piece is a segment's name and a short text; pieces are joined by the separator token. Missing knowledge
    leaves no piece. How a segment reads as text is its source's to say (:attr:`retrieval.Segment.render`).
    """
    declared = segments()
    chosen = [declared[name] for name in config.knowledge]
    return [
        (
            f"{record.question} {choice.text}",
            [(segment.name, text) for segment in chosen for text in segment.texts(record, choice, config)],
        )
        for choice in record.choices
    ]


def choice_texts(record: Record, config: InputConfig) -> list[tuple[str, list[str]]]:
    """:func:`choice_pieces` without the segments' names: the texts each choice's input is made of."""
    return [(first, [text for _, text in pieces]) for first, pieces in choice_pieces(record, config)]


@dataclass(frozen=True)
class PairTemplate:
    """Where a tokenizer puts its special tokens around a pair of sequences, and their token types.

    Found by encoding a probe pair, so it works for any tokenizer that encodes pairs.
    """

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    types: tuple[int, int, int, int, int]  # prefix, first sequence, middle, second sequence, suffix
    separator: int
    has_token_types: bool

    @classmethod
    def from_tokenizer(cls, tokenizer) -> PairTemplate:
        first, second = "question", "knowledge"
        pair = tokenizer(first, second)
        ids = list(pair["input_ids"])
        a = list(tokenizer(first, add_special_tokens=False)["input_ids"])
        b = list(tokenizer(second, add_special_tokens=False)["input_ids"])
        start_a = next((i for i in range(len(ids)) if ids[i : i + len(a)] == a), None)
        start_b = (
            None
            if start_a is None
            else next((i for i in range(start_a + len(a), len(ids)) if ids[i : i + len(b)] == b), None)
        )
        if start_a is None or start_b is None:
            raise ValueError(f"cannot find how {type(tokenizer).__name__} lays out a pair of sequences")
        types = list(pair.get("token_type_ids") or [0] * len(ids))
        end_a, end_b = start_a + len(a), start_b + len(b)
        kind = lambda lo, hi, default: types[lo] if hi > lo else default  # noqa: E731
        separator = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else ids[end_a]
        return cls(
            prefix=tuple(ids[:start_a]),
            middle=tuple(ids[end_a:start_b]),
            suffix=tuple(ids[end_b:]),
            types=(
                kind(0, start_a, 0),
                types[start_a],
                kind(end_a, start_b, types[start_b]),
                types[start_b],
                kind(end_b, len(ids), types[start_b]),
            ),
            separator=separator,
            has_token_types="token_type_ids" in pair,
        )

    @property
    def specials(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def build(self, first: list[int], second: list[int]) -> tuple[list[int], list[int]]:
        """Token ids and token types of a pair."""
        ids = [*self.prefix, *first, *self.middle, *second, *self.suffix]
        p, a, m, b, s = self.types
        types = [p] * len(self.prefix) + [a] * len(first) + [m] * len(self.middle) + [b] * len(second)
        return ids, types + [s] * len(self.suffix)


@dataclass
class Example:
    """One record as token ids: a row per choice (``int32`` arrays), its label and its length in tokens.

    Args:
        id: the record's id.
        input_ids: one row of token ids per choice.
        token_type_ids: one row of token types per choice (``int8``), or ``None`` for a tokenizer without them.
        label: the index of the correct choice, ``-100`` (the loss's ignored index) when the answer is unknown.
        labels: the choices' labels.
        texts: the choices' texts, so that a prediction made from the example carries them without its record
            (the record's own strings, not copies: a few bytes per example beside its token ids).
    """

    id: str
    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    label: int
    labels: list[str]
    texts: list[str]

    @property
    def length(self) -> int:
        return max(len(row) for row in self.input_ids)


def encode_records(
    records: Iterable[Record],
    tokenizer,
    config: InputConfig,
    *,
    chunk: int = 256,
    survival: SegmentSurvival | None = None,
) -> Iterator[Example]:
    """Token ids for each record (the tokenizer runs on a chunk of records at a time).

    Args:
        records: the records, with the knowledge ``config.knowledge`` names.
        tokenizer: the encoder's tokenizer.
        config: the input settings.
        chunk: records tokenized together.
        survival: counts, for each segment, the choices that kept it whole (see :mod:`kear.budget`).
    """
    template = PairTemplate.from_tokenizer(tokenizer)
    budget = config.max_length - template.specials
    records = iter(records)
    while batch := [record for _, record in zip(range(chunk), records)]:
        layouts = [choice_pieces(record, config) for record in batch]
        texts = [text for layout in layouts for first, pieces in layout for text in (first, *(t for _, t in pieces))]
        encoded = iter(tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else iter(())
        for record, layout in zip(batch, layouts):
            ids, types = [], []
            for _, pieces in layout:
                first = list(next(encoded))
                second = [(name, list(next(encoded))) for name, _ in pieces]
                fitted = fit(
                    first, second, budget, template.separator, caps=config.segment_caps, truncation=config.truncation
                )
                if survival is not None:
                    survival.add(fitted)
                row_ids, row_types = template.build(fitted.first, fitted.second)
                ids.append(np.asarray(row_ids, dtype=np.int32))
                types.append(np.asarray(row_types, dtype=np.int8))
            label = -100 if record.answer_index is None else record.answer_index
            texts = [choice.text for choice in record.choices]
            yield Example(record.id, ids, types if template.has_token_types else None, label, record.labels, texts)


class ChoiceCollator:
    """Pads a batch to ``[batch, choices, longest]`` (dynamic padding) and marks the real choices.

    Records with fewer choices than others in the batch get padded choices, which ``choice_mask`` marks so
    that the model neither encodes nor scores them.

    Args:
        pad_token_id: the tokenizer's padding id.
        pad_to_multiple_of: round the length up (8 suits tensor cores under mixed precision).
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.multiple = pad_to_multiple_of

    def __call__(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        choices = max(len(e.input_ids) for e in examples)
        length = max(e.length for e in examples)
        if self.multiple:
            length = math.ceil(length / self.multiple) * self.multiple
        input_ids = np.full((len(examples), choices, length), self.pad_token_id, dtype=np.int64)
        attention = np.zeros((len(examples), choices, length), dtype=np.int64)
        with_types = examples[0].token_type_ids is not None
        types = np.zeros_like(attention) if with_types else None
        choice_mask = np.zeros((len(examples), choices), dtype=bool)
        for i, example in enumerate(examples):
            for j, row in enumerate(example.input_ids):
                input_ids[i, j, : len(row)] = row
                attention[i, j, : len(row)] = 1
                if types is not None:
                    types[i, j, : len(row)] = example.token_type_ids[j]
            choice_mask[i, : len(example.input_ids)] = True
        batch = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention),
            "choice_mask": torch.from_numpy(choice_mask),
            "labels": torch.tensor([e.label for e in examples], dtype=torch.long),
        }
        if types is not None:
            batch["token_type_ids"] = torch.from_numpy(types)
        return batch


class LengthGroupedBatchSampler:
    """Batches of examples of similar length, in an order fixed by ``(seed, epoch)``.

    Shuffled examples are cut into mega-batches of ``group`` batches, each sorted by length and cut into
    batches, and the batches are shuffled; so each batch pads little and the order stays random. Without
    shuffling (evaluation), examples are sorted by length outright.

    Args:
        lengths: tokens per example (its longest choice).
        batch_size: examples per batch (across all processes).
        seed: the order's seed; the epoch is added to it.
        shuffle: random order (training) or sorted by length (evaluation).
        group_by_length: group similar lengths; off, batches are plain random slices.
        group: batches per mega-batch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        group_by_length: bool = True,
        group: int = 50,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed, self.shuffle, self.group_by_length, self.group = seed, shuffle, group_by_length, group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable") if self.group_by_length else np.arange(n)
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator).numpy()
        if self.group_by_length:
            size = self.batch_size * self.group
            groups = [order[i : i + size] for i in range(0, n, size)]
            order = np.concatenate([g[np.argsort(-self.lengths[g], kind="stable")] for g in groups])
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.group_by_length:
            shuffled = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in shuffled]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)
