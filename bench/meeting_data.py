"""A department-sized database for the presenter benchmark: 100,000 scans and 200 meetings.

Rows are bulk-inserted through the tables' own definitions (fast, and the same schema the app
uses), on top of the loaded demo, whose cine media are prepared so the presenter finds them.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from qa_meeting.store.models import AgendaItem, Meeting, Read, Study, TeachingPoint, User

SCANS = 100_000
MEETINGS = 200
CASES_PER_MEETING = 8
BATCH = 5_000


def populate(engine: Engine, *, seed: int = 7) -> None:
    """Add the scans (each with a trainee and an expert read) and the past meetings."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
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
        protocols = ["fusic_heart", "efast", "lung_blue", "dvt", "rush"]
        for start in range(0, SCANS, BATCH):
            studies = [
                {
                    "id": first_id + 1 + i,
                    "study_instance_uid": f"2.25.{900000000 + i}",
                    "protocol_id": rng.choice(protocols),
                    "operator_id": rng.choice(trainee_ids),
                    "scanned_on": date.today() - timedelta(days=rng.randrange(1500)),
                    "status": "reviewed",
                    "discordance": rng.choice(["concordant"] * 8 + ["discordant_minor"]),
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(start + BATCH, SCANS))
            ]
            connection.execute(insert(Study), studies)
            reads: list[dict[str, object]] = [
                {
                    "study_id": s["id"],
                    "reader_id": reader,
                    "kind": kind,
                    "protocol_id": s["protocol_id"],
                    "answers": {},
                    "views_obtained": [],
                    "missing_view_reasons": {},
                    "image_quality": 4,
                    "confidence": "high",
                    "reasoning": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for s in studies
                for kind, reader in (("trainee", s["operator_id"]), ("expert", expert_id))
            ]
            connection.execute(insert(Read), reads)
        for m in range(MEETINGS):
            inserted = connection.execute(
                insert(Meeting).values(
                    held_on=date.today() - timedelta(days=7 * (m + 3)),
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
                        "category": "interpretation",
                        "tags": [],
                        "created_at": now,
                    }
                    for study_id in picked
                ],
            )
