"""Segment caps and truncation order give the documented token layouts (kear.budget, through kear.inputs)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from kear.budget import SegmentSurvival, fit, report_truncation
from kear.inputs import InputConfig, encode_records
from retrieval import record_from_dict

# one word, one token: layouts read as words
RECORD = record_from_dict(
    {
        "id": "q",
        "question": {
            "stem": "where is milk",
            "question_concept": "milk",
            "qc_meaning": "m1 m2 m3",
            "choices": [
                {
                    "label": "A",
                    "text": "fridge",
                    "ac_meaning": "a1 a2",
                    "retrieval": ["e1 e2 e3", "e4"],
                    "triple": [["milk", "AtLocation", "fridge"]],
                },
                {"label": "B", "text": "where"},  # no knowledge: its input is the question and choice alone
            ],
        },
    }
)
WORDS = "where is milk fridge m1 m2 m3 a1 a2 e1 e2 e3 e4 at location".split()


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {word: i for i, word in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    model = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    model.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=model, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]"
    )


def layout(tokenizer, survival: SegmentSurvival | None = None, stem: str = "where is milk", **settings) -> str:
    record = replace(RECORD, question=stem)
    (example,) = encode_records([record], tokenizer, InputConfig(**settings), survival=survival)
    assert tokenizer.decode(example.input_ids[1].tolist()).startswith("[CLS] ")
    return tokenizer.decode(example.input_ids[0].tolist())


FULL = "[CLS] where is milk fridge [SEP] m1 m2 m3 [SEP] a1 a2 [SEP] e1 e2 e3 e4 [SEP] milk at location fridge [SEP]"
LAYOUTS = {  # settings -> the input, as words
    "everything fits": ({"max_length": 24}, FULL),
    "KEAR: the tail goes first, the triple with it": (
        {"max_length": 16},
        "[CLS] where is milk fridge [SEP] m1 m2 m3 [SEP] a1 a2 [SEP] e1 e2 [SEP]",
    ),
    "examples, then definitions, are cut before the triple": (
        {"max_length": 16, "truncation": ["examples", "ac_meaning", "qc_meaning"]},
        "[CLS] where is milk fridge [SEP] m1 m2 m3 [SEP] milk at location fridge [SEP]",
    ),
    "a cap shortens a segment wherever the input stands": (
        {"max_length": 24, "segment_caps": {"examples": 2, "qc_meaning": 1}},
        "[CLS] where is milk fridge [SEP] m1 [SEP] a1 a2 [SEP] e1 e2 [SEP] milk at location fridge [SEP]",
    ),
    "caps and order together": (
        {"max_length": 14, "segment_caps": {"examples": 1}, "truncation": ["qc_meaning", "examples"]},
        "[CLS] where is milk fridge [SEP] a1 a2 [SEP] milk at location fridge [SEP]",
    ),
    "only the question survives, cut from its start so the choice stays": (
        {"max_length": 8, "truncation": ["examples"], "stem": "where is milk where is milk"},
        "[CLS] milk where is milk fridge [SEP] [SEP]",
    ),
}


@pytest.mark.parametrize("case", LAYOUTS, ids=list(LAYOUTS))
def test_layouts(tokenizer, case: str) -> None:
    settings, expected = LAYOUTS[case]
    assert layout(tokenizer, **settings) == expected


def test_survival_counts_the_segments_kept_whole(tokenizer) -> None:
    survival = SegmentSurvival()
    layout(tokenizer, survival, max_length=16)
    layout(tokenizer, survival, max_length=16, truncation=["examples", "ac_meaning", "qc_meaning"])
    assert survival.shares() == {"qc_meaning": 1.0, "ac_meaning": 0.5, "examples": 0.0, "triple": 0.5}
    # the question-level definition is in both choices' inputs; the rest only in the first's
    assert survival.present == {"qc_meaning": 4, "ac_meaning": 2, "examples": 2, "triple": 2}


def test_the_truncation_report_warns_of_cut_segments_only_when_the_budget_is_short(tokenizer, caplog) -> None:
    short, roomy = SegmentSurvival(), SegmentSurvival()
    layout(tokenizer, short, max_length=16)  # the triple goes, and the examples lose their tail
    layout(tokenizer, roomy, max_length=24)  # everything fits
    with caplog.at_level("INFO", logger="kear.budget"):
        report_truncation(short, "training data")
    (kept, cut) = caplog.records
    assert (
        kept.levelname == "INFO" and "qc_meaning 100.0%, ac_meaning 100.0%, examples 0.0%, triple 0.0%" in kept.message
    )
    assert cut.levelname == "WARNING" and cut.message.startswith(
        "training data: the token budget cuts examples in 100.0% of choices, triple in 100.0% of choices; raise "
        "inputs.max_length, or give the segments that matter room with inputs.segment_caps"
    )
    assert "inputs.truncation" in cut.message
    caplog.clear()
    with caplog.at_level("INFO", logger="kear.budget"):
        report_truncation(roomy, "dev data")
        report_truncation(SegmentSurvival(), "plain data")  # no knowledge at all: nothing to say
    assert [(r.levelname, r.message.split(":")[0]) for r in caplog.records] == [("INFO", "dev data")]


def test_a_segment_cut_in_five_percent_of_choices_or_fewer_is_no_warning(caplog) -> None:
    survival = SegmentSurvival(present={"triple": 100, "examples": 100}, whole={"triple": 95, "examples": 94})
    with caplog.at_level("WARNING", logger="kear.budget"):
        report_truncation(survival, "dev data")
    (warning,) = caplog.records
    assert "examples in 6.0% of choices" in warning.message and "triple" not in warning.message


def test_without_caps_or_order_the_cut_is_keas_one_text_cut() -> None:
    pieces = [("a", [4, 5]), ("b", [6, 7])]
    assert fit([1, 2, 3], pieces, 7, 0).second == [4, 5, 0, 6]  # the separator counts
    assert fit([1, 2, 3], pieces, 6, 0).second == [4, 5, 0]  # a separator may end it, as in KEAR
    cut = fit([1, 2, 3, 4, 5], pieces, 3, 0)
    assert (cut.first, cut.second, cut.whole) == ([3, 4, 5], [], {"a": False, "b": False})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"segment_caps": {"wikipedia": 3}}, "unknown knowledge segment 'wikipedia'"),
        ({"segment_caps": {"examples": 0}}, r"segment_caps.examples must be an integer >= 1"),
        ({"truncation": ["triple", "triple"]}, "truncation lists 'triple' twice"),
    ],
)
def test_bad_budgets_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InputConfig(**settings)
