"""The loop figures' data version: the page caches the figures under it, so every change the
figures read must change it, and nothing else."""

from __future__ import annotations

from datetime import date

from qa_meeting.services import loop_figures
from qa_meeting.services.context import AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Attendance, Meeting, Read, Study, TeachingPoint
from tests.conftest import add_actor


def _study(ctx: AppContext, operator_id: int) -> int:
    with transaction(ctx.engine) as session:
        study = repository.add_study(
            session=session,
            study=Study(
                study_instance_uid="1.2.826.0.1.99", protocol_id="efast", operator_id=operator_id
            ),
        )
        assert study.id is not None
        return study.id


def test_the_version_changes_with_every_fact_the_figures_read(ctx: AppContext) -> None:
    trainee = add_actor(ctx, "trainee9", "trainee")
    chair = add_actor(ctx, "chair9", "chair")
    versions = [loop_figures.data_version(ctx)]
    assert loop_figures.data_version(ctx) == versions[0]  # stable while nothing changes
    study_id = _study(ctx, trainee.user_id)
    versions.append(loop_figures.data_version(ctx))
    with transaction(ctx.engine) as session:
        repository.save_read(
            session=session,
            read=Read(
                study_id=study_id, reader_id=trainee.user_id, kind="trainee", protocol_id="efast"
            ),
        )
    versions.append(loop_figures.data_version(ctx))
    with transaction(ctx.engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        study.flagged_good_spot = True
        repository.save_study(session=session, study=study)
    versions.append(loop_figures.data_version(ctx))
    with transaction(ctx.engine) as session:
        meeting = Meeting(held_on=date(2026, 3, 1), chair_id=chair.user_id, status="planned")
        session.add(meeting)
    versions.append(loop_figures.data_version(ctx))
    with transaction(ctx.engine) as session:
        found = session.get(Meeting, 1)
        assert found is not None
        found.status = "closed"
        session.add(found)
    versions.append(loop_figures.data_version(ctx))
    with transaction(ctx.engine) as session:
        session.add(Attendance(meeting_id=1, user_id=trainee.user_id))
    versions.append(loop_figures.data_version(ctx))
    with transaction(ctx.engine) as session:
        session.add(
            TeachingPoint(
                study_id=study_id,
                meeting_id=1,
                author_id=chair.user_id,
                text="Good views.",
                category="good_practice",
            )
        )
    versions.append(loop_figures.data_version(ctx))
    assert len(set(versions)) == len(versions), versions
