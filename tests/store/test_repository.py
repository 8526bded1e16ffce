"""The repository on both databases: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from qa_meeting.services.context import AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import (
    AuditEvent,
    Clip,
    Nomination,
    Read,
    Study,
    User,
)


def _user(session, name: str, role: str = "trainee") -> User:
    return repository.add_user(
        session=session,
        user=User(username=name, display_name=name, role=role, pseudonym=f"OP-{name}"),
    )


def _study(session, uid: str, **fields) -> Study:
    return repository.add_study(session=session, study=Study(study_instance_uid=uid, **fields))


def test_users_round_trip(any_ctx: AppContext) -> None:
    with transaction(any_ctx.engine) as session:
        _user(session, "bea", "expert")
        _user(session, "ana")
    with transaction(any_ctx.engine) as session:
        assert [u.username for u in repository.list_users(session=session)] == ["ana", "bea"]
        assert [u.username for u in repository.list_users(session=session, role="expert")] == [
            "bea"
        ]
        assert repository.count_users(session=session) == 2
        assert repository.pseudonyms_in_use(session=session) == {"OP-ana", "OP-bea"}


def test_unique_usernames_are_enforced_and_the_transaction_rolls_back(
    any_ctx: AppContext,
) -> None:
    with pytest.raises(IntegrityError), transaction(any_ctx.engine) as session:
        _user(session, "ana")
        _study(session, "1.2.3")
        _user(session, "ana")
    with transaction(any_ctx.engine) as session:
        assert repository.count_users(session=session) == 0
        assert repository.count_studies(session=session) == 0


def test_studies_filter_and_count(any_ctx: AppContext) -> None:
    with transaction(any_ctx.engine) as session:
        ana = _user(session, "ana")
        _study(
            session,
            "1.1",
            protocol_id="efast",
            operator_id=ana.id,
            status="reviewed",
            discordance="discordant_major",
        )
        _study(session, "1.2", protocol_id="fusic_heart", status="awaiting_read")
        _study(session, "1.3", protocol_id="efast", status="awaiting_overread")
    with transaction(any_ctx.engine) as session:
        efast = repository.list_studies(
            session=session, filters=repository.StudyFilter(protocol_id="efast")
        )
        assert {s.study_instance_uid for s in efast} == {"1.1", "1.3"}
        mine = repository.list_studies(
            session=session, filters=repository.StudyFilter(operator_id=ana.id)
        )
        assert [s.study_instance_uid for s in mine] == ["1.1"]
        major = repository.list_studies(
            session=session, filters=repository.StudyFilter(discordance="discordant_major")
        )
        assert len(major) == 1
        assert repository.count_studies_by(session=session, column="status") == {
            "reviewed": 1,
            "awaiting_read": 1,
            "awaiting_overread": 1,
        }
        assert repository.count_studies_by(
            session=session, column="status", operator_id=ana.id
        ) == {"reviewed": 1}


def test_clips_reads_nominations_and_audit(any_ctx: AppContext) -> None:
    with transaction(any_ctx.engine) as session:
        ana = _user(session, "ana")
        study = _study(session, "2.1")
        assert study.id is not None and ana.id is not None
        repository.add_clip(
            session=session,
            clip=Clip(
                study_id=study.id,
                sop_instance_uid="2.1.1",
                sha256="a" * 64,
                size_bytes=10,
                rows=4,
                columns=4,
                number_of_frames=3,
            ),
        )
        repository.save_read(
            session=session,
            read=Read(
                study_id=study.id,
                reader_id=ana.id,
                kind="trainee",
                protocol_id="efast",
                answers={"free_fluid": "yes"},
                views_obtained=["ruq"],
            ),
        )
        repository.save_nomination(
            session=session, nomination=Nomination(study_id=study.id, reason="interesting")
        )
        repository.add_audit_event(session=session, event=AuditEvent(action="test"))
        study_id = study.id
    with transaction(any_ctx.engine) as session:
        clip = repository.get_clip_by_sop_uid(session=session, sop_instance_uid="2.1.1")
        assert clip is not None and clip.number_of_frames == 3
        assert repository.clip_counts(session=session, study_ids=[study_id]) == {study_id: 1}
        read = repository.get_read(session=session, study_id=study_id, kind="trainee")
        assert read is not None and read.answers == {"free_fluid": "yes"}
        assert read.views_obtained == ["ruq"]
        assert repository.count_open_nominations(session=session) == 1
        nomination = repository.get_nomination(session=session, study_id=study_id)
        assert nomination is not None
        repository.delete_nomination(session=session, nomination=nomination)
        assert repository.count_open_nominations(session=session) == 0
        assert [e.action for e in repository.list_audit_events(session=session)] == ["test"]


def test_one_read_per_kind_per_study(any_ctx: AppContext) -> None:
    with pytest.raises(IntegrityError), transaction(any_ctx.engine) as session:
        ana = _user(session, "ana")
        study = _study(session, "3.1")
        assert study.id is not None and ana.id is not None
        for _ in range(2):
            session.add(Read(study_id=study.id, reader_id=ana.id, kind="expert", protocol_id="x"))
            session.flush()


def test_a_database_from_an_older_version_is_refused_with_a_remedy(tmp_path) -> None:
    import sqlite3

    from qa_meeting.errors import ConfigurationError
    from qa_meeting.store.db import make_engine

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE meeting (id INTEGER PRIMARY KEY, held_on DATE)")
    with pytest.raises(ConfigurationError, match="older version") as caught:
        make_engine(f"sqlite:///{path}")
    assert "meeting lacks" in caught.value.message and "Back up" in caught.value.remedy


def test_postgres_sessions_read_dates_as_iso_in_utc_whatever_the_url_asks(
    postgres_url: str,
) -> None:
    """Dates read as text (the loop figures) must not depend on the server's DateStyle."""
    from sqlalchemy import text

    from qa_meeting.store.db import make_engine

    engine = make_engine(f"{postgres_url}%20-cDateStyle%3DSQL,DMY%20-cTimeZone%3DPacific/Auckland")
    try:
        with engine.connect() as connection:
            shown = connection.execute(
                text(
                    "select current_setting('DateStyle'), current_setting('TimeZone'),"
                    " cast(date '2026-11-29' as varchar), current_schema()"
                )
            ).one()
    finally:
        engine.dispose()
    assert shown[:3] == ("ISO, YMD", "UTC", "2026-11-29")
    assert shown[3] == postgres_url.rsplit("%3D", 1)[1]  # the URL's own options still apply
