"""Rules applied to a model's choice scores at prediction and evaluation; saved with the model, off by default.

The one rule so far is KEAR's majority-relation rule (the reference's ``freq_rel``, in its DeBERTa-v3 recipe):
when the most common ConceptNet relation from the question concept links at least ``majority_relation``
choices, the choices it does not link are dropped (their probability becomes 0), or, with ``penalty``, lose that
much log-probability. Which choices the rule keeps is decided on the knowledge side
(:mod:`retrieval.conceptnet.majority`); here it only changes scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval.settings import check_int, check_number

if TYPE_CHECKING:
    from retrieval.records import Record

    from .evaluation import Prediction
    from .modeling import KearModel

# What dropping a choice costs it: enough that exp() of its log-probability is 0 in float64, while the score stays
# a finite number that JSON can hold.
DROP = 1e4


@dataclass
class RuleConfig:
    """Rules on the scores of each record's choices.

    Args:
        majority_relation: KEAR's majority-relation threshold: at least this many choices linked by the most
            common relation turn the rule on for a question (KEAR: 3); ``None``: off.
        penalty: log-probability taken from the choices the rule does not keep; ``None``: they are dropped.

    Checked when built: ``majority_relation`` an integer >= 1 or null; ``penalty`` a finite number > 0 or null.
    """

    majority_relation: int | None = None
    penalty: float | None = None

    def __post_init__(self) -> None:
        check_int(self.majority_relation, "majority_relation", 1, optional=True)
        check_number(self.penalty, "penalty", above=0, optional=True)

    @property
    def active(self) -> bool:
        return self.majority_relation is not None

    def needs(self) -> list[str]:
        """The knowledge sources whose fields the rules read."""
        if not self.active:
            return []
        from retrieval.conceptnet import ConceptNetSource

        return [ConceptNetSource.name]

    def lacking(self, records: Sequence[Record]) -> bool:
        """Whether some record lacks the fields the rules read."""
        if not self.active:
            return False
        from retrieval.conceptnet.majority import FIELD

        return any(FIELD not in choice.knowledge for record in records for choice in record.choices)


def saved_rules(model: KearModel) -> RuleConfig:
    """The rules a model was saved with (none for a model saved before rules existed)."""
    from .modeling import saved_settings

    return saved_settings(model, RuleConfig, "rules", "rules")


def apply_rules(predictions: list[Prediction], records: Sequence[Record], rules: RuleConfig) -> list[Prediction]:
    """The predictions with the rules applied to their scores (the same objects where no rule applies).

    Args:
        predictions: one per record, in the same order.
        records: the records, with the knowledge fields the rules read.
        rules: which rules, with what settings.
    """
    if not rules.active:
        return predictions
    from retrieval.conceptnet.majority import kept_choices

    from .evaluation import Prediction

    cost = DROP if rules.penalty is None else rules.penalty
    out = []
    for prediction, record in zip(predictions, records):
        kept = kept_choices(record, rules.majority_relation)
        if kept is None or all(kept):
            out.append(prediction)
            continue
        scores = [s if keep else s - cost for s, keep in zip(prediction.scores, kept)]
        out.append(Prediction(prediction.id, prediction.labels, scores, prediction.answer, prediction.texts))
    return out
