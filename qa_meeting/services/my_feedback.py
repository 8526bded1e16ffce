"""Private feedback: what the QA meetings made of the signed-in user's own scans.

Only the actor's own scans (``Study.operator_id == actor.user_id``) are ever read; there is no
way to ask for someone else's. The result is blame-free: it names no one (not the expert, not
the chair, not other trainees, not the authors of teaching points), celebrates good spots
beside the cases discussed, and any other user's name typed into a teaching point is removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from qa_meeting.domain.discordance import StudyCategory, category_label
from qa_meeting.domain.meeting import TeachingCategory, label
from qa_meeting.domain.protocols import Protocol
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import AgendaItem, ItemOutcome, Study, StudyStatus, TeachingPoint

NAME_REMOVED = "[name removed]"

OUTCOME_LABELS: Mapping[str, str] = MappingProxyType(
    {
        ItemOutcome.PRESENTED.value: "Presented",
        ItemOutcome.DEFERRED.value: "Deferred to a later meeting",
        ItemOutcome.PENDING.value: "On an upcoming agenda",
    }
)
# What each classification means for the person who scanned, in plain words.
CATEGORY_MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        StudyCategory.CONCORDANT.value: "Your read matched the expert over-read.",
        StudyCategory.DISCORDANT_MINOR.value: (
            "Your read differed from the expert's in a way unlikely to change management."
        ),
        StudyCategory.DISCORDANT_MAJOR.value: (
            "Your read differed from the expert's in a way that could change management."
        ),
        StudyCategory.TECHNICALLY_LIMITED.value: (
            "The images could not answer the questions fully; recognising that is a skill too."
        ),
        StudyCategory.INCOMPLETE_DOCUMENTATION.value: (
            "Some questions or views were not documented (or a missing view had no reason)."
        ),
    }
)


@dataclass(frozen=True)
class FeedbackPoint:
    """A teaching point on one of the user's scans (its author is deliberately left out)."""

    text: str
    category: str
    category_label: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class FeedbackCase:
    """One of the user's scans on one meeting's agenda."""

    item_id: int
    study_id: int
    meeting_id: int
    held_on: date
    protocol: str
    scanned_on: date | None
    clinical_question: str  # the user's own record: shown in the app only
    outcome: str
    outcome_label: str
    classification: str | None
    classification_label: str
    classification_meaning: str
    agreed_at_meeting: bool  # the consensus, rather than the automatic comparison
    error_stage: str | None
    remedial_action: str | None
    approved_for_bank: bool
    good_spot: bool
    teaching_points: tuple[FeedbackPoint, ...]


@dataclass(frozen=True)
class GoodSpot:
    """A scan of the user's flagged as a good spot or praised with a good-practice point."""

    study_id: int
    protocol: str
    scanned_on: date | None
    clinical_question: str
    flagged_at_over_read: bool
    praise: tuple[FeedbackPoint, ...]
    presented_on: date | None


@dataclass(frozen=True)
class FeedbackCounts:
    over_read: int
    presented: int
    good_spots: int


@dataclass(frozen=True)
class MyFeedback:
    cases: tuple[FeedbackCase, ...]
    good_spots: tuple[GoodSpot, ...]
    counts: FeedbackCounts

    @property
    def empty(self) -> bool:
        """Nothing to show: no scan over-read, on an agenda or praised yet."""
        return not self.cases and not self.good_spots and self.counts.over_read == 0


def without_names(text: str, names: Iterable[str]) -> str:
    """``text`` with every whole occurrence of ``names`` (any case) replaced."""
    wanted = sorted({n.strip() for n in names if len(n.strip()) >= 3}, key=len, reverse=True)
    if not wanted:
        return text
    pattern = "|".join(r"\s+".join(map(re.escape, n.split())) for n in wanted)
    return re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", NAME_REMOVED, text, flags=re.IGNORECASE)


def _point(point: TeachingPoint, names: Sequence[str]) -> FeedbackPoint:
    return FeedbackPoint(
        text=without_names(point.text, names),
        category=point.category,
        category_label=label(point.category),
        tags=tuple(without_names(tag, names) for tag in point.tags),
    )


def _classification(item: AgendaItem, study: Study) -> tuple[str | None, str, str]:
    value = item.consensus_category or study.discordance
    try:
        category = StudyCategory(value) if value else None
    except ValueError:
        return value, label(value or ""), ""
    if category is None:
        return None, "Not classified yet", "The expert over-read is still to come."
    return category.value, category_label(category), CATEGORY_MEANINGS[category.value]


def _protocol_name(protocols: Mapping[str, Protocol], study: Study) -> str:
    protocol = protocols.get(study.protocol_id or "")
    return protocol.name if protocol else study.protocol_id or "No protocol"


def _case(
    item: AgendaItem,
    held_on: date,
    study: Study,
    points: Sequence[FeedbackPoint],
    protocols: Mapping[str, Protocol],
) -> FeedbackCase:
    classification, category_text, meaning = _classification(item, study)
    praised = any(p.category == TeachingCategory.GOOD_PRACTICE.value for p in points)
    return FeedbackCase(
        item_id=item.id or 0,
        study_id=study.id or 0,
        meeting_id=item.meeting_id,
        held_on=held_on,
        protocol=_protocol_name(protocols, study),
        scanned_on=study.scanned_on,
        clinical_question=study.indication,
        outcome=item.outcome,
        outcome_label=OUTCOME_LABELS.get(item.outcome, label(item.outcome)),
        classification=classification,
        classification_label=category_text,
        classification_meaning=meaning,
        agreed_at_meeting=item.consensus_category is not None,
        error_stage=label(item.error_stage) if item.error_stage else None,
        remedial_action=label(item.remedial_action) if item.remedial_action else None,
        approved_for_bank=item.approved_for_bank,
        good_spot=study.flagged_good_spot or praised,
        teaching_points=tuple(points),
    )


def my_feedback(
    ctx: AppContext, actor: Actor, protocols: Mapping[str, Protocol] | None = None
) -> MyFeedback:
    """The actor's own feedback: their scans' meeting outcomes and teaching points (newest
    meeting first), their good spots, and counts. Any role may ask; it is always their own."""
    known = protocols if protocols is not None else load_protocols(ctx.settings.protocols_dir)
    with transaction(ctx.engine) as session:
        rows = repository.own_agenda_items(session=session, operator_id=actor.user_id)
        praised = repository.own_good_spot_studies(session=session, operator_id=actor.user_id)
        study_ids = sorted({s.id for _, _, s in rows if s.id} | {s.id for s in praised if s.id})
        points = repository.teaching_points_for_studies(session=session, study_ids=study_ids)
        statuses = repository.count_studies_by(
            session=session, column="status", operator_id=actor.user_id
        )
        others = [
            name
            for user in repository.list_users(session=session)
            if user.id != actor.user_id
            for name in (user.display_name, user.username)
        ]
    by_meeting: dict[tuple[int, int | None], list[FeedbackPoint]] = {}
    for point in points:
        by_meeting.setdefault((point.study_id, point.meeting_id), []).append(_point(point, others))
    cases = tuple(
        _case(
            item,
            meeting.held_on,
            study,
            by_meeting.get((study.id or 0, meeting.id), [])
            + by_meeting.get((study.id or 0, None), []),
            known,
        )
        for item, meeting, study in rows
    )
    spots = tuple(_good_spot(study, by_meeting, cases, known) for study in praised)
    counts = FeedbackCounts(
        over_read=statuses.get(StudyStatus.REVIEWED.value, 0),
        presented=len({c.study_id for c in cases if c.outcome == ItemOutcome.PRESENTED.value}),
        good_spots=len(spots),
    )
    return MyFeedback(cases=cases, good_spots=spots, counts=counts)


def _good_spot(
    study: Study,
    by_meeting: Mapping[tuple[int, int | None], Sequence[FeedbackPoint]],
    cases: Sequence[FeedbackCase],
    protocols: Mapping[str, Protocol],
) -> GoodSpot:
    study_id = study.id or 0
    praise = tuple(
        point
        for (point_study, _), points in by_meeting.items()
        if point_study == study_id
        for point in points
        if point.category == TeachingCategory.GOOD_PRACTICE.value
    )
    presented = [
        c.held_on
        for c in cases
        if c.study_id == study_id and c.outcome == ItemOutcome.PRESENTED.value
    ]
    return GoodSpot(
        study_id=study_id,
        protocol=_protocol_name(protocols, study),
        scanned_on=study.scanned_on,
        clinical_question=study.indication,
        flagged_at_over_read=study.flagged_good_spot,
        praise=praise,
        presented_on=max(presented) if presented else None,
    )
