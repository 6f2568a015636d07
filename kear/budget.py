"""How an input's token budget is spent on its knowledge: per-segment caps and the order segments are cut in.

KEAR lays knowledge out after the question and choice and, when the input is too long, cuts the knowledge as
one text from its tail: at short lengths the last segment (the triple, in KEAR's order) is the first to go,
whatever it is worth. Two settings of :class:`kear.inputs.InputConfig` change that without changing the order
of the input:

* ``segment_caps``: at most this many tokens of a segment (its tail is cut), so that a long definition or a
  set of examples cannot crowd out the rest;
* ``truncation``: the segments in the order they are cut when the input is still too long, each from its tail
  until it is gone; segments not listed are cut only after those, as KEAR cuts (from the knowledge's tail).

With neither set, inputs are exactly KEAR's. In every case the question is cut (from its start, so the choice
at its end stays) only when no knowledge is left.

What the budget cost is counted by :class:`SegmentSurvival` (passed to :func:`kear.inputs.encode_records`) and
told by :func:`report_truncation`: ``kear train`` and ``kear evaluate`` log it for their data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# a segment cut in more than this share of the choices that have it (in percent) gets a warning
CUT_WARNING_PERCENT = 5

Piece = tuple[str, list[int]]  # a segment's name and the token ids of one of its texts
_Indexed = tuple[int, str, list[int]]  # a piece with its place in the input


@dataclass
class Fitted:
    """An input cut to its budget.

    Args:
        first: the question and choice's token ids.
        second: the knowledge's token ids, pieces joined by the separator.
        whole: for each segment that had text, whether all of it is in ``second``.
    """

    first: list[int]
    second: list[int]
    whole: dict[str, bool]


def _cap(pieces: list[_Indexed], caps: dict[str, int]) -> list[_Indexed]:
    """Each capped segment's pieces cut, from the segment's tail, to its cap (emptied pieces dropped)."""
    left = dict(caps)
    out = []
    for place, name, ids in pieces:
        if name in left:
            ids, left[name] = ids[: left[name]], max(0, left[name] - len(ids))
        if ids:
            out.append((place, name, ids))
    return out


def _length(first: list[int], pieces: list[_Indexed]) -> int:
    return len(first) + sum(len(ids) for _, _, ids in pieces) + max(0, len(pieces) - 1)


def _cut(first: list[int], pieces: list[_Indexed], budget: int, order: Sequence[str]) -> list[_Indexed]:
    """Pieces of the segments in ``order`` cut from their tails, one segment after another, until all fits."""
    pieces = list(pieces)
    for name in order:
        for position in reversed([i for i, (_, owner, _) in enumerate(pieces) if owner == name]):
            excess = _length(first, pieces) - budget
            if excess <= 0:
                return pieces
            place, _, ids = pieces[position]
            if excess < len(ids):
                pieces[position] = (place, name, ids[: len(ids) - excess])
            else:
                del pieces[position]  # with its separator
    return pieces


def fit(
    first: list[int],
    pieces: Sequence[Piece],
    budget: int,
    separator: int,
    *,
    caps: dict[str, int] | None = None,
    truncation: Sequence[str] | None = None,
) -> Fitted:
    """Cut one input to ``budget`` tokens (special tokens not counted).

    Args:
        first: the question and choice's token ids.
        pieces: the knowledge, in input order, as (segment, token ids) pieces.
        budget: tokens the two sequences may hold together.
        separator: the token put between pieces.
        caps: tokens at most per segment.
        truncation: segments in the order they are cut; ``None`` cuts the knowledge from its tail (KEAR).
    """
    given = [(place, name, ids) for place, (name, ids) in enumerate(pieces) if ids]
    kept = _cap(given, caps or {})
    if truncation:
        kept = _cut(first, kept, budget, truncation)
    if len(first) >= budget:
        first, kept = first[len(first) - budget :], []
    second: list[int] = []
    ends = {}
    for place, _, ids in kept:
        second.extend(([separator] if second else []) + ids)
        ends[place] = (len(second), len(ids))
    room = budget - len(first)
    whole = {name: True for _, name, _ in given}
    for place, name, ids in given:
        end, length = ends.get(place, (room + 1, 0))
        whole[name] = whole[name] and end <= room and length == len(ids)
    return Fitted(first, second[:room], whole)


@dataclass
class SegmentSurvival:
    """For each segment, of the choices whose input had it, how many kept it whole: what truncation costs."""

    present: dict[str, int] = field(default_factory=dict)
    whole: dict[str, int] = field(default_factory=dict)

    def add(self, fitted: Fitted) -> None:
        for name, kept in fitted.whole.items():
            self.present[name] = self.present.get(name, 0) + 1
            self.whole[name] = self.whole.get(name, 0) + kept

    def shares(self) -> dict[str, float]:
        """The share of choices, among those that had the segment, where it survived whole."""
        return {name: self.whole[name] / count for name, count in self.present.items()}


def report_truncation(survival: SegmentSurvival, what: str) -> None:
    """Log the share of choices in which each knowledge segment survived the token budget whole, and warn when one
    was cut in more than :data:`CUT_WARNING_PERCENT` percent of the choices that have it, naming the settings that
    give it room. Nothing is logged when no input had knowledge.

    Args:
        survival: the counts, filled by :func:`kear.inputs.encode_records` (its ``survival`` argument).
        what: the data they are of, as the messages name it (``training data``, ``dev data``).
    """
    if not survival.present:
        return
    kept = ", ".join(f"{name} {share:.1%}" for name, share in survival.shares().items())
    logger.info("%s: knowledge segments kept whole, in the share of choices that have them: %s", what, kept)
    cut = {
        name: (count - survival.whole[name]) / count
        for name, count in survival.present.items()
        if (count - survival.whole[name]) * 100 > CUT_WARNING_PERCENT * count
    }
    if cut:
        logger.warning(
            "%s: the token budget cuts %s; raise inputs.max_length, or give the segments that matter room with "
            "inputs.segment_caps (cap the long ones) or inputs.truncation (the order segments are cut in)",
            what,
            ", ".join(f"{name} in {share:.1%} of choices" for name, share in cut.items()),
        )
