"""The demo's past meeting (cases/meetings/past_meeting.toml), run through the meeting services.

Loaded once, after the demo cases: the chair plans it, goes live, reveals every step of each
presented case, records consensus and teaching points, marks attendance, defers what was not
shown, and closes it. Skipped when any meeting exists already.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.meeting import (
    LAST_STEP,
    BiasTag,
    ErrorStage,
    RemedialAction,
    TeachingCategory,
)
from qa_meeting.errors import ConfigurationError
from qa_meeting.services import meetings, presenter
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meetings import Move, PlannedCase
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ItemOutcome

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class _Point:
    text: str
    category: TeachingCategory
    tags: tuple[str, ...]
    frame: int | None


@dataclass(frozen=True)
class _Case:
    case_id: str
    minutes: int
    presented: bool
    consensus: presenter.Consensus
    points: tuple[_Point, ...]


def _fail(source: str, field: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{source}: {field} {problem}.")


def _enum(source: str, field: str, kind: type[E], value: object) -> E:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise _fail(source, field, f"must be one of {allowed}, not {value!r}") from None


def _parse_case(source: str, index: int, data: Mapping[str, Any]) -> _Case:
    where = f"cases[{index}]"
    outcome = data.get("outcome", "presented")
    if outcome not in ("presented", "deferred"):
        raise _fail(source, f"{where}.outcome", "must be presented or deferred")
    points = []
    for p_index, point in enumerate(data.get("teaching_points", [])):
        field = f"{where}.teaching_points[{p_index}]"
        points.append(
            _Point(
                text=str(point["text"]),
                category=_enum(source, f"{field}.category", TeachingCategory, point["category"]),
                tags=tuple(str(t) for t in point.get("tags", [])),
                frame=int(point["frame"]) if "frame" in point else None,
            )
        )

    def optional(key: str, kind: type[E]) -> E | None:
        return _enum(source, f"{where}.{key}", kind, data[key]) if key in data else None

    bias = tuple(_enum(source, f"{where}.bias_tags", BiasTag, t) for t in data.get("bias_tags", []))
    return _Case(
        case_id=str(data["case"]),
        minutes=int(data.get("minutes", 5)),
        presented=outcome == "presented",
        consensus=presenter.Consensus(
            optional("consensus", StudyCategory),
            optional("error_stage", ErrorStage),
            optional("remedial_action", RemedialAction),
            bias,
            bool(data.get("approved_for_bank", False)),
        ),
        points=tuple(points),
    )


def load_past_meeting(ctx: AppContext, path: Path, actors: Mapping[str, Actor]) -> bool:
    """Hold the past meeting described by ``path``; False when meetings exist already."""
    with transaction(ctx.engine) as session:
        if repository.list_meetings(session=session, limit=1):
            return False
    source = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        cases = [_parse_case(source, i, c) for i, c in enumerate(data["cases"])]
        chair = actors[str(data["chair"])]
        attendees = [actors[str(name)] for name in data.get("attendees", [])]
        held_on = date.today() - timedelta(days=int(data["held_days_ago"]))
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{source}: {exc!r} is missing or malformed.") from exc
    study_ids = {}
    with transaction(ctx.engine) as session:
        for case in cases:
            study = repository.get_study_by_demo_case(session=session, demo_case=case.case_id)
            if study is None or study.id is None:
                raise _fail(source, "cases", f"names {case.case_id!r}, which is not loaded")
            study_ids[case.case_id] = study.id
    meeting_id = meetings.create_meeting(
        ctx,
        chair,
        held_on=held_on,
        slot_minutes=int(data["slot_minutes"]),
        agenda=[PlannedCase(study_ids[c.case_id], c.minutes, "Demo meeting") for c in cases],
    )
    _run(ctx, chair, meeting_id, cases)
    meetings.mark_attendance(ctx, chair, meeting_id, [a.user_id for a in attendees])
    meetings.close_meeting(ctx, chair, meeting_id)
    return True


def _run(ctx: AppContext, chair: Actor, meeting_id: int, cases: list[_Case]) -> None:
    meetings.start_meeting(ctx, chair, meeting_id)
    with transaction(ctx.engine) as session:
        items = list(repository.list_agenda_items(session=session, meeting_id=meeting_id))
    for index, (case, item) in enumerate(zip(cases, items, strict=True)):
        assert item.id is not None
        if case.presented:
            for _ in range(LAST_STEP):
                meetings.navigate(ctx, chair, meeting_id, Move.NEXT_STEP)
            presenter.save_consensus(ctx, chair, item.id, case.consensus)
            for point in case.points:
                presenter.add_teaching_point(
                    ctx,
                    chair,
                    item.id,
                    text=point.text,
                    category=point.category,
                    tags=point.tags,
                    frame_index=point.frame,
                )
        else:
            meetings.set_outcome(ctx, chair, item.id, ItemOutcome.DEFERRED)
        if index + 1 < len(items):
            meetings.navigate(ctx, chair, meeting_id, Move.NEXT_CASE)
