"""A department-sized database for the benchmarks: 100,000 scans and 200 meetings.

Rows are bulk-inserted through the tables' own definitions (fast, and the same schema the app
uses), on top of the loaded demo, whose cine media are prepared so the presenter finds them.
The rows fill what the loop figures read: 24 more trainees (27 in all), scan dates spread over
the last year, expert answers from the protocols (some positive findings), each over-read dated
0-14 days after its scan, a backlog of recent scans still awaiting their over-read, good spots,
teaching points of every category, and attendance at each past meeting.

``department()`` builds this database once per process (the presenter and the after-meeting
benchmarks share it); the folder is removed when the process exits.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from qa_meeting.domain.meeting import TeachingCategory
from qa_meeting.domain.protocols import Polarity, Protocol
from qa_meeting.services import media
from qa_meeting.services.context import build_context
from qa_meeting.services.demo import load_demo
from qa_meeting.services.protocols import load_protocols
from qa_meeting.settings import Settings, load_settings
from qa_meeting.store.models import (
    AgendaItem,
    Attendance,
    Meeting,
    Read,
    Study,
    StudyStatus,
    TeachingPoint,
    User,
)

SCANS = 100_000
MEETINGS = 200
CASES_PER_MEETING = 8
EXTRA_TRAINEES = 24
SCAN_DAYS = 365
BACKLOG_DAYS = 7  # scans of the last week may still await their over-read
BATCH = 5_000
PROTOCOLS = ("fusic_heart", "efast", "lung_blue", "dvt", "rush")


@dataclass(frozen=True)
class Department:
    """The benchmark database: its settings (data folder) and the demo's closed meeting."""

    settings: Settings
    demo_meeting_id: int


_built: list[tuple[Department, tempfile.TemporaryDirectory[str]]] = []


def department() -> Department:
    """The demo plus ``populate()``, built on the first call of the process and then reused."""
    if not _built:
        folder = tempfile.TemporaryDirectory(prefix="qa-meeting-bench-")
        data = Path(folder.name) / "data"
        settings = replace(load_settings(environ={}, secrets_path=None), data_dir=data)
        ctx = build_context(settings)
        load_demo(ctx)
        media.build_missing_media(ctx)
        with ctx.engine.connect() as connection:
            demo_meeting = connection.execute(select(col(Meeting.id))).scalar_one()
        assert demo_meeting is not None
        populate(ctx.engine)
        ctx.engine.dispose()
        _built.append((Department(settings, demo_meeting), folder))
    return _built[0][0]


def _answers(rng: random.Random, protocol: Protocol | None) -> dict[str, str]:
    """An answer to every question: mostly negative, some findings, a few indeterminate."""
    if protocol is None:
        return {}
    answers = {}
    for question in protocol.questions:
        by_polarity = {
            polarity: [a.value for a in question.answers if a.polarity is polarity]
            for polarity in Polarity
        }
        roll = rng.random()
        wanted = Polarity.POSITIVE if roll < 0.12 else Polarity.INDETERMINATE
        if roll >= 0.15 or not by_polarity[wanted]:
            wanted = Polarity.NEGATIVE
        choices = by_polarity[wanted] or [a.value for a in question.answers]
        answers[question.id] = rng.choice(choices)
    return answers


def _moment(day: date, rng: random.Random, now: datetime) -> datetime:
    """A time during ``day`` (UTC), never later than ``now``."""
    moment = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(minutes=rng.randrange(720))
    return min(moment, now)


def _add_trainees(engine: Engine, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(User),
            [
                {
                    "username": f"bench_trainee_{n:02d}",
                    "display_name": f"Bench Trainee {n:02d}",
                    "role": "trainee",
                    "pseudonym": f"Bench-{n:02d}",
                    "active": True,
                    "created_at": now,
                }
                for n in range(1, EXTRA_TRAINEES + 1)
            ],
        )


def populate(
    engine: Engine, *, seed: int = 7, protocols: Mapping[str, Protocol] | None = None
) -> None:
    """Add the trainees, the scans (with a trainee read and, unless in the backlog, an expert
    over-read) and the past meetings with their teaching points and attendance."""
    rng = random.Random(seed)
    known = protocols if protocols is not None else load_protocols(None)
    now = datetime.now(UTC)
    today = now.date()
    _add_trainees(engine, now)
    with engine.begin() as connection:
        trainee_ids = [
            row[0] for row in connection.execute(select(col(User.id)).where(User.role == "trainee"))
        ]
        expert_id = connection.execute(
            select(col(User.id)).where(User.role == "expert")
        ).scalar_one()
        chair_id = connection.execute(select(col(User.id)).where(User.role == "chair")).scalar_one()
        first_id = int(
            connection.execute(select(col(Study.id)).order_by(col(Study.id).desc())).scalar() or 0
        )
        for start in range(0, SCANS, BATCH):
            studies: list[dict[str, object]] = []
            reads: list[dict[str, object]] = []
            for i in range(start, min(start + BATCH, SCANS)):
                study_id = first_id + 1 + i
                protocol_id = rng.choice(PROTOCOLS)
                operator = rng.choice(trainee_ids)
                scanned_on = today - timedelta(days=rng.randrange(SCAN_DAYS))
                logged = _moment(scanned_on, rng, now)
                backlog = (today - scanned_on).days < BACKLOG_DAYS and rng.random() < 0.25
                answers = _answers(rng, known.get(protocol_id))
                studies.append(
                    {
                        "id": study_id,
                        "study_instance_uid": f"2.25.{900000000 + i}",
                        "protocol_id": protocol_id,
                        "operator_id": operator,
                        "scanned_on": scanned_on,
                        "status": (
                            StudyStatus.AWAITING_OVERREAD if backlog else StudyStatus.REVIEWED
                        ).value,
                        "discordance": None
                        if backlog
                        else rng.choice(
                            ["concordant"] * 16
                            + ["discordant_minor"] * 2
                            + ["discordant_major", "technically_limited"]
                        ),
                        "flagged_good_spot": not backlog and rng.random() < 0.04,
                        "created_at": logged,
                        "updated_at": logged,
                    }
                )
                kinds = [("trainee", operator, logged)]
                if not backlog:
                    overread_day = min(today, scanned_on + timedelta(days=rng.randrange(15)))
                    overread_at = max(logged, _moment(overread_day, rng, now))
                    kinds.append(("expert", expert_id, overread_at))
                reads += [
                    {
                        "study_id": study_id,
                        "reader_id": reader,
                        "kind": kind,
                        "protocol_id": protocol_id,
                        "answers": answers,
                        "views_obtained": [],
                        "missing_view_reasons": {},
                        "image_quality": 4,
                        "confidence": "high",
                        "reasoning": "",
                        "created_at": at,
                        "updated_at": at,
                    }
                    for kind, reader, at in kinds
                ]
            connection.execute(insert(Study), studies)
            connection.execute(insert(Read), reads)
        categories = [c.value for c in TeachingCategory]
        for m in range(MEETINGS):
            inserted = connection.execute(
                insert(Meeting).values(
                    held_on=today - timedelta(days=7 * (m + 3)),
                    chair_id=chair_id,
                    slot_minutes=60,
                    status="closed",
                    current_step=0,
                    created_at=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            meeting_id = inserted[0]
            picked = rng.sample(range(first_id + 1, first_id + SCANS + 1), CASES_PER_MEETING)
            connection.execute(
                insert(AgendaItem),
                [
                    {
                        "meeting_id": meeting_id,
                        "study_id": study_id,
                        "position": p,
                        "planned_minutes": 5,
                        "reason": "benchmark",
                        "nomination_reason": "discordant_minor",
                        "outcome": "presented",
                        "trainee_label": "Trainee A",
                        "bias_tags": [],
                        "approved_for_bank": False,
                    }
                    for p, study_id in enumerate(picked)
                ],
            )
            connection.execute(
                insert(TeachingPoint),
                [
                    {
                        "study_id": study_id,
                        "meeting_id": meeting_id,
                        "author_id": chair_id,
                        "text": "Benchmark teaching point.",
                        "category": rng.choice(categories),
                        "tags": [],
                        "created_at": now,
                    }
                    for study_id in picked
                ],
            )
            attendees = [chair_id, expert_id, *rng.sample(trainee_ids, rng.randrange(5, 15))]
            connection.execute(
                insert(Attendance),
                [
                    {"meeting_id": meeting_id, "user_id": u, "source": "chair", "joined_at": now}
                    for u in attendees
                ],
            )
