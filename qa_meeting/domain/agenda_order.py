"""The order of a meeting agenda: engaging start, good spots spread, no trainee twice in a row.

The heuristic has two steps.

1. An *ideal* sequence that ignores trainees. The most engaging case opens the meeting: an
   interesting case, else a major discordance, a chair's addition, a minor discordance, a
   technically limited study (a good spot only when there is nothing else). The other cases
   follow round-robin over their nomination reasons, in queue priority order, so no case type
   comes in a block. Good spots are spread over the meeting: the first in second place (early
   praise sets a blame-free tone), the last at the very end (the meeting closes on a case done
   well), any others evenly in between.
2. A greedy pass that fills the agenda position by position with the earliest case of the ideal
   sequence that keeps the fewest possible back-to-back cases of one trainee. That fewest number
   for the cases still to place is known in closed form (``fewest_repeats``), so each greedy
   choice keeps the optimum and no backtracking is needed: when the trainees allow an order with
   no repeats (the most frequent trainee has at most half the cases, rounded up) the result has
   none, and otherwise it has as few as any order can have.

Cases without a trainee (``trainee_id`` None) never count as repeats. Ties are broken by study
id, so the same cases in any input order come out in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Protocol, TypeVar

from qa_meeting.domain.nominations import PRIORITY, NominationReason

# Which case opens the meeting, most engaging first; good spots open only when nothing else can.
OPENER_PREFERENCE: tuple[NominationReason, ...] = (
    NominationReason.INTERESTING,
    NominationReason.DISCORDANT_MAJOR,
    NominationReason.CHAIR_ADDED,
    NominationReason.DISCORDANT_MINOR,
    NominationReason.TECHNICALLY_LIMITED,
    NominationReason.GOOD_SPOT,
)


class Orderable(Protocol):
    """What the ordering needs of a case (``QueueEntry`` has it)."""

    @property
    def study_id(self) -> int: ...

    @property
    def trainee_id(self) -> int | None: ...

    @property
    def reason(self) -> NominationReason: ...


CaseT = TypeVar("CaseT", bound=Orderable)


def adjacent_repeats(cases: Sequence[Orderable]) -> int:
    """How many cases directly follow a case of the same (known) trainee."""
    return sum(
        1
        for before, after in pairwise(cases)
        if after.trainee_id is not None and after.trainee_id == before.trainee_id
    )


def fewest_repeats(trainees: Sequence[int | None], after: int | None = None) -> int:
    """The fewest back-to-back repeats any order of ``trainees`` can have.

    ``after`` is the trainee of a case already placed just before them (None for none). With
    N cases in all and the most frequent trainee on M of them, the M cases need M - 1 gaps that
    the N - M others fill, so at least 2M - N - 1 repeats remain; a case placed before that is
    not of the most frequent trainee cannot fill a gap, which costs one more.
    """
    counts = Counter(trainee for trainee in trainees if trainee is not None)
    return _fewest(counts, len(trainees), after)


def _fewest(counts: Counter[int], total: int, after: int | None) -> int:
    if after is None:
        return max(0, 2 * max(counts.values(), default=0) - total - 1)
    after_count = counts[after] + 1
    top = max(max(counts.values(), default=0), after_count)
    starts_with_top = after_count == top
    return max(0, 2 * top - (total + 1) - (1 if starts_with_top else 0))


def good_spot_positions(good_spots: int, total: int) -> tuple[int, ...]:
    """Where the good spots go among ``total`` cases (0-based): second, last, evenly between."""
    if good_spots <= 0 or total <= 0:
        return ()
    good_spots = min(good_spots, total)
    first = min(1, total - good_spots)
    if good_spots == 1:
        return (first,)
    last = total - 1
    span = last - first
    return tuple(first + (i * span) // (good_spots - 1) for i in range(good_spots))


def ideal_sequence(cases: Sequence[CaseT]) -> tuple[CaseT, ...]:
    """The order step 1 of the module docstring describes, before trainees are considered."""
    good = sorted(
        (c for c in cases if c.reason is NominationReason.GOOD_SPOT), key=lambda c: c.study_id
    )
    others = sorted(
        (c for c in cases if c.reason is not NominationReason.GOOD_SPOT),
        key=lambda c: (OPENER_PREFERENCE.index(c.reason), c.study_id),
    )
    rest = _round_robin(others[1:])
    others = others[:1] + rest
    slots = set(good_spot_positions(len(good), len(cases)))
    sequence: list[CaseT] = []
    for position in range(len(cases)):
        take_good = (position in slots and good) or not others
        sequence.append(good.pop(0) if take_good else others.pop(0))
    return tuple(sequence)


def _round_robin(cases: Sequence[CaseT]) -> list[CaseT]:
    groups = [
        sorted((c for c in cases if c.reason is reason), key=lambda c: c.study_id)
        for reason in PRIORITY
    ]
    mixed: list[CaseT] = []
    while any(groups):
        for group in groups:
            if group:
                mixed.append(group.pop(0))
    return mixed


def order_without_back_to_back(cases: Sequence[CaseT]) -> tuple[CaseT, ...]:
    """Order the chosen cases as the module docstring describes (fewest same-trainee repeats)."""
    waiting = list(ideal_sequence(cases))
    counts = Counter(c.trainee_id for c in waiting if c.trainee_id is not None)
    ordered: list[CaseT] = []
    previous: int | None = None
    while waiting:
        index = _next_index(waiting, counts, previous)
        case = waiting.pop(index)
        if case.trainee_id is not None:
            counts[case.trainee_id] -= 1
        ordered.append(case)
        previous = case.trainee_id
    return tuple(ordered)


def _next_index(waiting: Sequence[Orderable], counts: Counter[int], previous: int | None) -> int:
    """The earliest waiting case whose placement keeps the fewest possible repeats."""
    best = _fewest(counts, len(waiting), previous)
    cost_by_trainee: dict[int | None, int] = {}
    for index, case in enumerate(waiting):
        trainee = case.trainee_id
        if trainee not in cost_by_trainee:
            rest = counts.copy()
            if trainee is not None:
                rest[trainee] -= 1
            repeat = 1 if trainee is not None and trainee == previous else 0
            cost_by_trainee[trainee] = repeat + _fewest(rest, len(waiting) - 1, trainee)
        if cost_by_trainee[trainee] == best:
            return index
    raise AssertionError("fewest_repeats is exact, so some case keeps the optimum")
