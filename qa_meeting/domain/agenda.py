"""The agenda builder: from the meeting queue, choose the cases that fit the slot, then order them.

The rules (PRODUCT.md sections 2 and 5), in order of precedence:

1. Pinned cases are always shown, even when they alone overflow the slot (``overflow_minutes``
   and ``notes`` say so); then, time allowing, every major discordance (the most varied per
   minute first when they do not all fit).
2. The remaining minutes go, case by case, to the one adding the most variety per minute: the
   weighted count of what it adds that the agenda lacks, a new protocol x finding cell weighing
   most (``VARIETY_WEIGHTS``); ties go to nomination priority, then study id. Cases adding
   nothing still fill spare time.
3. A good spot per four cases (REALM: positive cases beside discrepancies): of n cases, at least
   min(available good spots, ceil(n / 4)), a good spot being available when pinned or when it
   fits the slot alone. The filler never adds a case that breaks this, so a short good spot
   takes the place of another case. Only pinned cases and majors can crowd good spots out, and
   ``notes`` then say so.
4. Planned minutes stay within the slot unless the pinned cases alone exceed it.
5. Order: no trainee twice in a row when any order avoids it, an engaging opener, good spots
   spread (``agenda_order``).
6. The same queue in any order gives the same agenda; every choice and omission says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

from qa_meeting.domain.agenda_order import adjacent_repeats, order_without_back_to_back
from qa_meeting.domain.nominations import PRIORITY, NominationReason
from qa_meeting.errors import ValidationError

MAX_SLOT_MINUTES = 600
ERROR_STAGES = ("indication", "acquisition", "interpretation", "medical_decision_making")
NORMAL = "normal"
GOOD_SPOT_EVERY = 4
# A new protocol x finding cell is what a meeting's case mix is judged on, so it weighs most;
# a new protocol or error stage next; each new view a little.
VARIETY_WEIGHTS = MappingProxyType({"cell": 6, "protocol": 3, "stage": 3, "view": 1})
PINNED = "Pinned by the chair"
MAJOR = "Major discordance (every major discordance is shown when time allows)"
GOOD_SPOT_RULE = "Good spot: at least one per four cases"
KEPT_FOR_GOOD_SPOTS = "Left out to keep at least one good spot per four cases"

_GOOD = NominationReason.GOOD_SPOT
Feature = tuple[str, str, str]


@dataclass(frozen=True)
class CaseMinutes:
    """Minutes planned per case, by nomination reason (a case's own ``minutes`` overrides)."""

    discordant_major: int = 8
    discordant_minor: int = 5
    technically_limited: int = 4
    interesting: int = 6
    good_spot: int = 3
    chair_added: int = 5

    def __post_init__(self) -> None:
        for reason in NominationReason:
            if self.for_reason(reason) <= 0:
                raise ValidationError(
                    f"Minutes per {reason.value} case must be at least 1.",
                    "Give every case type a positive number of minutes.",
                )

    def for_reason(self, reason: NominationReason) -> int:
        """Minutes planned for a case queued for ``reason`` (fields are named after reasons)."""
        return int(getattr(self, reason.value))


@dataclass(frozen=True)
class QueueEntry:
    """One queued study with what the agenda builder weighs.

    ``findings`` holds the expert's positive findings as ``"question_id=value"`` (empty for a
    normal study); ``error_stage`` the I-AIM stage of the error (``ERROR_STAGES``) or None;
    ``minutes`` overrides the minutes per case type.
    """

    study_id: int
    reason: NominationReason
    pinned: bool
    trainee_id: int | None
    protocol_id: str
    views: frozenset[str]
    findings: frozenset[str]
    error_stage: str | None
    minutes: int | None = None

    def __post_init__(self) -> None:
        if self.minutes is not None and self.minutes <= 0:
            raise ValidationError(
                f"Study {self.study_id}: planned minutes must be at least 1, not {self.minutes}.",
                "Give the case a positive number of minutes, or clear it to use the default.",
            )
        if self.error_stage is not None and self.error_stage not in ERROR_STAGES:
            raise ValidationError(
                f"Study {self.study_id}: unknown error stage {self.error_stage!r}.",
                f"Use one of {', '.join(ERROR_STAGES)}, or none.",
            )

    def planned_minutes(self, minutes: CaseMinutes) -> int:
        """This case's own minutes, else the minutes for its nomination reason."""
        return self.minutes if self.minutes is not None else minutes.for_reason(self.reason)


@dataclass(frozen=True)
class AgendaChoice:
    """A chosen case: its place (from 1), planned minutes and why it was chosen."""

    study_id: int
    position: int
    planned_minutes: int
    reason: str
    nomination_reason: NominationReason


@dataclass(frozen=True)
class Agenda:
    """The chosen cases in meeting order, the cases left out and why, and what fell short.

    ``overflow_minutes`` is how far the pinned cases run over the slot (0 when they do not);
    ``back_to_back_repeats`` counts cases that follow a case of the same trainee (0 unless no
    order avoids it); ``notes`` says, in sentences, what the chair should know.
    """

    choices: tuple[AgendaChoice, ...]
    slot_minutes: int
    planned_minutes: int
    left_out: tuple[tuple[int, str], ...]
    overflow_minutes: int = 0
    back_to_back_repeats: int = 0
    notes: tuple[str, ...] = ()

    @property
    def study_ids(self) -> tuple[int, ...]:
        """The chosen study ids in meeting order."""
        return tuple(choice.study_id for choice in self.choices)


def variety_cells(entries: Iterable[QueueEntry]) -> set[tuple[str, str]]:
    """The protocol x finding cells covered; a normal study covers (protocol, "normal")."""
    return {(p, value) for kind, p, value in _union(entries) if kind == "cell"}


def variety_score(entries: Iterable[QueueEntry]) -> int:
    """Distinct protocols, views, findings (protocol x finding cells) and error stages covered.

    Views and findings count within their protocol, as the cells do.
    """
    return len(_union(entries))


def good_spots_required(cases: int, available: int) -> int:
    """The fewest good spots among ``cases`` chosen cases: one per four, as far as available."""
    return min(available, -(-cases // GOOD_SPOT_EVERY))


def _features(entry: QueueEntry) -> set[Feature]:
    protocol = entry.protocol_id
    found: set[Feature] = {("protocol", protocol, "")}
    found.update(("view", protocol, view) for view in entry.views)
    found.update(("cell", protocol, finding) for finding in entry.findings or {NORMAL})
    if entry.error_stage is not None:
        found.add(("stage", "", entry.error_stage))
    return found


def _union(entries: Iterable[QueueEntry]) -> set[Feature]:
    return set().union(*map(_features, entries))


def _tie_key(entry: QueueEntry) -> tuple[int, int]:
    return PRIORITY.index(entry.reason), entry.study_id


def _describe(new: set[Feature]) -> str:
    ordered = sorted(new)
    parts = [f"protocol {p}" for kind, p, _ in ordered if kind == "protocol"]
    parts += [
        f"normal {p} study" if value == NORMAL else f"finding {value}"
        for kind, p, value in ordered
        if kind == "cell"
    ]
    parts += [f"new error stage {value}" for kind, _, value in ordered if kind == "stage"]
    views = sum(1 for kind, _, _ in new if kind == "view")
    parts += [f"{views} new view{'s' if views > 1 else ''}"] if views else []
    return ", ".join(parts)


@dataclass
class _Plan:
    """The agenda while it is being chosen (local to one ``build_agenda`` call)."""

    minutes: CaseMinutes
    slot: int
    available_good: int
    chosen: list[tuple[QueueEntry, str]] = field(default_factory=list)
    covered: set[Feature] = field(default_factory=set)
    used: int = 0
    good: int = 0

    @property
    def left(self) -> int:
        return self.slot - self.used

    def cost(self, entry: QueueEntry) -> int:
        return entry.planned_minutes(self.minutes)

    def gain(self, entry: QueueEntry) -> int:
        return sum(VARIETY_WEIGHTS[kind] for kind, _, _ in _features(entry) - self.covered)

    def short_of_good_spots(self, cases: int) -> bool:
        return self.good < good_spots_required(cases, self.available_good)

    def keeps_good_spot_mix(self, entry: QueueEntry) -> bool:
        return entry.reason is _GOOD or not self.short_of_good_spots(len(self.chosen) + 1)

    def why(self, entry: QueueEntry) -> str:
        if entry.reason is _GOOD and self.short_of_good_spots(len(self.chosen) + 1):
            return GOOD_SPOT_RULE
        new = _describe(_features(entry) - self.covered)
        label = entry.reason.value.replace("_", " ")
        text = f"Adds variety: {new}" if new else f"Fills the remaining time ({label})"
        return f"Good spot. {text}" if entry.reason is _GOOD else text

    def add(self, entry: QueueEntry, why: str) -> None:
        self.chosen.append((entry, why))
        self.covered |= _features(entry)
        self.used += self.cost(entry)
        self.good += 1 if entry.reason is _GOOD else 0

    def fill(self, pool: Iterable[QueueEntry], *, why: str | None, keep_mix: bool) -> None:
        """Add the case with most variety per minute while one fits (and keeps the mix)."""
        waiting = sorted(pool, key=_tie_key)
        while True:
            fitting = [
                entry
                for entry in waiting
                if self.cost(entry) <= self.left
                and (not keep_mix or self.keeps_good_spot_mix(entry))
            ]
            if not fitting:
                return
            best = min(fitting, key=lambda e: (-Fraction(self.gain(e), self.cost(e)), _tie_key(e)))
            self.add(best, why or self.why(best))
            waiting.remove(best)


def build_agenda(
    queue: Sequence[QueueEntry], slot_minutes: int, minutes: CaseMinutes = CaseMinutes()
) -> Agenda:
    """Choose and order the cases of a meeting slot by the rules of the module docstring.

    Raises ``ValidationError`` for a slot outside 1 to 600 minutes or a study queued twice.
    """
    _validate(queue, slot_minutes)
    available_good = sum(
        1
        for e in queue
        if e.reason is _GOOD and (e.pinned or e.planned_minutes(minutes) <= slot_minutes)
    )
    plan = _Plan(minutes, slot_minutes, available_good)
    for entry in sorted((e for e in queue if e.pinned), key=_tie_key):
        plan.add(entry, PINNED)
    unpinned = [e for e in queue if not e.pinned]
    majors = [e for e in unpinned if e.reason is NominationReason.DISCORDANT_MAJOR]
    plan.fill(majors, why=MAJOR, keep_mix=False)
    others = [e for e in unpinned if e.reason is not NominationReason.DISCORDANT_MAJOR]
    plan.fill(others, why=None, keep_mix=True)
    return _agenda(queue, plan)


def _validate(queue: Sequence[QueueEntry], slot_minutes: int) -> None:
    if not 0 < slot_minutes <= MAX_SLOT_MINUTES:
        raise ValidationError(
            f"The slot must last 1 to {MAX_SLOT_MINUTES} minutes, not {slot_minutes}.",
            "Enter the length of the meeting slot in minutes.",
        )
    counts = Counter(entry.study_id for entry in queue)
    twice = sorted(study_id for study_id, count in counts.items() if count > 1)
    if twice:
        raise ValidationError(
            f"Studies queued more than once: {', '.join(map(str, twice))}.",
            "Remove the duplicates from the queue and build the agenda again.",
        )


def _agenda(queue: Sequence[QueueEntry], plan: _Plan) -> Agenda:
    why = {entry.study_id: text for entry, text in plan.chosen}
    ordered = order_without_back_to_back([entry for entry, _ in plan.chosen])
    choices = tuple(
        AgendaChoice(e.study_id, position, plan.cost(e), why[e.study_id], e.reason)
        for position, e in enumerate(ordered, start=1)
    )
    left_out = tuple(
        (e.study_id, _why_left_out(e, plan))
        for e in sorted(queue, key=_tie_key)
        if e.study_id not in why
    )
    return Agenda(
        choices=choices,
        slot_minutes=plan.slot,
        planned_minutes=plan.used,
        left_out=left_out,
        overflow_minutes=max(0, -plan.left),
        back_to_back_repeats=adjacent_repeats(ordered),
        notes=_notes(ordered, plan),
    )


def _why_left_out(entry: QueueEntry, plan: _Plan) -> str:
    if plan.cost(entry) > plan.left:
        left = max(0, plan.left)
        return f"Did not fit in the slot ({plan.cost(entry)} minutes, {left} left)"
    return KEPT_FOR_GOOD_SPOTS


def _notes(ordered: Sequence[QueueEntry], plan: _Plan) -> tuple[str, ...]:
    notes: list[str] = []
    if plan.left < 0:
        notes.append(
            f"The pinned cases take {plan.used} minutes, {-plan.left} more than the "
            f"{plan.slot}-minute slot."
        )
    if plan.short_of_good_spots(len(ordered)):
        notes.append(
            f"Only {plan.good} good spot(s) among {len(ordered)} cases: the pinned cases and "
            "major discordances leave no room for more."
        )
    if repeats := adjacent_repeats(ordered):
        notes.append(
            f"{repeats} case(s) follow a case of the same trainee: one trainee has too many of "
            "the cases for any order to avoid it."
        )
    return tuple(notes)
