"""KEAR's majority-relation rule on hand-made records: which choices it keeps, and what it does to scores."""

from __future__ import annotations

import math

import pytest

from kear.evaluation import Prediction
from kear.rules import DROP, RuleConfig, apply_rules
from retrieval import record_from_dict
from retrieval.conceptnet.majority import kept_choices, majority_relation


def record(*relations: list[str] | None):
    """A record whose choices carry these relations from the question concept (``None``: no field at all)."""
    choices = [
        {"label": label, "text": f"choice {label}", **({} if found is None else {"relations": found})}
        for label, found in zip("ABCDE", relations)
    ]
    return record_from_dict({"id": "q", "question": {"stem": "?", "question_concept": "c", "choices": choices}})


CASES = {  # relations per choice -> what the rule keeps at threshold 3
    "three of five share AtLocation": (
        [["AtLocation"], ["AtLocation", "UsedFor"], [], ["AtLocation"], ["UsedFor"]],
        [True, True, False, True, False],
    ),
    "two is below the threshold": ([["AtLocation"], ["AtLocation"], [], ["UsedFor"], []], None),
    "no relation at all": ([[], [], [], [], []], None),
    "every choice linked: nothing dropped": ([["PartOf"], ["PartOf"], ["PartOf"]], [True, True, True]),
    "a tie goes to the relation met first": (
        [["UsedFor", "AtLocation"], ["AtLocation"], ["UsedFor"], ["AtLocation"], ["UsedFor"]],
        [True, False, True, False, True],
    ),
    "records without the field are left alone": ([["AtLocation"], ["AtLocation"], ["AtLocation"], None], None),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_rule_keeps_the_choices_the_majority_relation_links(case: str) -> None:
    relations, kept = CASES[case]
    assert kept_choices(record(*relations), threshold=3) == kept


def test_the_majority_relation_and_its_count() -> None:
    assert majority_relation(record(["A"], ["A", "B"], ["B"], ["B"])) == ("B", 3)
    assert majority_relation(record([], [])) == (None, 0)


def test_dropped_choices_get_no_probability_and_the_others_share_it() -> None:
    example = record(["AtLocation"], [], ["AtLocation"], ["AtLocation"], [])
    scores = [math.log(p) for p in (0.1, 0.5, 0.2, 0.1, 0.1)]  # the model prefers B, which the rule drops
    (before,) = [Prediction("q", example.labels, scores)]
    (after,) = apply_rules([before], [example], RuleConfig(majority_relation=3))
    assert before.prediction == "B" and after.prediction == "C"
    assert after.probabilities == pytest.approx([0.25, 0.0, 0.5, 0.25, 0.0])
    assert all(math.isfinite(s) for s in after.scores) and min(after.scores) < -DROP / 2  # JSON can hold it
    (penalised,) = apply_rules([before], [example], RuleConfig(majority_relation=3, penalty=math.log(2)))
    # B's 0.5 and E's 0.1 halved, then all renormalised
    assert penalised.probabilities == pytest.approx([p / 0.7 for p in (0.1, 0.25, 0.2, 0.1, 0.05)])
    assert apply_rules([before], [example], RuleConfig())[0] is before  # off by default
    assert apply_rules([before], [example], RuleConfig(majority_relation=4))[0] is before  # below the threshold


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"majority_relation": 0}, "majority_relation must be an integer >= 1"), ({"penalty": -1.0}, "penalty")],
)
def test_bad_rules_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuleConfig(**settings)
