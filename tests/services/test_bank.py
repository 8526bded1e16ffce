"""The image bank: the two demo cases published, then browsed, filtered, self-tested, counted,
and packages imported (a tampered one refused)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_meeting.domain.bank import BankFilter
from qa_meeting.domain.package import PackageIntegrityError
from qa_meeting.errors import NotFoundError, PermissionDeniedError
from qa_meeting.services import bank, export
from qa_meeting.services.context import AppContext
from qa_meeting.services.package import zip_package
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from tests.conftest import actor_named, make_context


@pytest.fixture(scope="module")
def bank_ctx(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    """The demo with both approved cases published (shared: tests here only read it)."""
    folder = tmp_path_factory.mktemp("bank") / "data"
    shutil.copytree(demo_template, folder)
    context = make_context(folder)
    chair = actor_named(context, "chair1")
    for case in export.approved_cases(context, chair):
        view = export.start_export(context, chair, case.study_id)
        export.confirm_and_publish(context, chair, view.id, looked_at_every_frame=True)
    yield context
    context.engine.dispose()


@pytest.fixture
def other_site(tmp_path: Path) -> Iterator[AppContext]:
    """Another site's empty instance, with one chair."""
    from tests.conftest import add_actor

    context = make_context(tmp_path / "other")
    add_actor(context, "chair9", "chair")
    add_actor(context, "trainee9", "trainee")
    yield context
    context.engine.dispose()


def test_everyone_signed_in_may_browse_and_filter(bank_ctx: AppContext) -> None:
    trainee = actor_named(bank_ctx, "trainee3")
    rows = bank.list_bank(bank_ctx, trainee, BankFilter())
    assert len(rows) == 2 and {r.protocol_name for r in rows} == {"FUSIC Heart"}
    assert {r.findings for r in rows} == {("RV dilated", "RV impaired"), ("Low preload",)}
    assert all(r.source == "local" and r.clips == 1 for r in rows)

    def titles(**wanted: object) -> list[str]:
        rows = bank.list_bank(bank_ctx, trainee, BankFilter(**wanted))  # type: ignore[arg-type]
        return sorted(r.title for r in rows)

    assert titles(finding="low preload") == ["FUSIC Heart: Low preload"]
    assert titles(min_quality=4) == ["FUSIC Heart: RV dilated, RV impaired"]
    assert titles(text="embolism") == ["FUSIC Heart: RV dilated, RV impaired"]
    assert titles(protocol_id="dvt") == [] and len(titles(view="a4c")) == 2
    assert titles(level="advanced") == []


def test_a_case_shows_its_content_and_plays_at_its_own_frame_rate(bank_ctx: AppContext) -> None:
    trainee = actor_named(bank_ctx, "trainee3")
    [row] = bank.list_bank(bank_ctx, trainee, BankFilter(finding="RV dilated"))
    case = bank.bank_case(bank_ctx, trainee, row.id)
    assert case.title == row.title and case.context.indication.startswith("Day 4 after")
    assert "D-shaped" in case.expert_reasoning and case.teaching_points[0].frame == 20
    by_id = {q.question_id: q for q in case.questions}
    assert by_id["rv_dilated"].expert_answer == "yes"
    assert ("unable_to_assess", "Unable to assess") in by_id["rv_dilated"].choices
    [clip] = case.clips
    assert clip.video.is_file() and clip.dicom.is_file() and clip.number_of_frames == 52
    assert clip.frames_per_second == pytest.approx(26, abs=0.1)
    assert clip.timestamps_ms[1] == pytest.approx(38.46, abs=0.01)
    assert case.key_frames and all(path.is_file() for path in case.key_frames)
    assert case.video_paths == (clip.video,)
    with pytest.raises(NotFoundError):
        bank.bank_case(bank_ctx, trainee, 999)


def test_a_self_test_is_scored_and_kept(bank_ctx: AppContext) -> None:
    trainee = actor_named(bank_ctx, "trainee1")
    [row] = bank.list_bank(bank_ctx, trainee, BankFilter(finding="Low preload"))
    answers = {"lv_impaired": "yes", "low_preload": "yes", "rv_dilated": "no"}
    result = bank.submit_self_test(bank_ctx, trainee, row.id, answers)
    assert (result.correct, result.total) == (2, 8)
    assert result.per_question["lv_impaired"] == ("yes", "no", False)
    assert result.per_question["tamponade"] == (None, "no", False)
    [attempt] = bank.my_attempts(bank_ctx, trainee)
    assert (attempt.case_id, attempt.correct, attempt.total, attempt.title) == (
        row.id,
        2,
        8,
        row.title,
    )
    assert bank.my_attempts(bank_ctx, actor_named(bank_ctx, "trainee2")) == []


def test_coverage_counts_protocol_and_finding(bank_ctx: AppContext) -> None:
    assert bank.coverage(bank_ctx, actor_named(bank_ctx, "trainee1")) == {
        ("fusic_heart", "Low preload"): 1,
        ("fusic_heart", "RV dilated"): 1,
        ("fusic_heart", "RV impaired"): 1,
    }


def test_another_site_imports_a_zipped_package_by_upload(
    bank_ctx: AppContext, other_site: AppContext, tmp_path: Path
) -> None:
    chair = actor_named(other_site, "chair9")
    [row] = bank.list_bank(bank_ctx, chair, BankFilter(finding="Low preload"))
    with transaction(bank_ctx.engine) as session:
        case = repository.get_bank_case(session=session, case_id=row.id)
        assert case is not None
    archive = zip_package(Path(case.package_path), tmp_path / "case.zip")
    with pytest.raises(PermissionDeniedError):
        bank.import_bank_package(
            other_site, actor_named(other_site, "trainee9"), archive, source="x"
        )
    summary = bank.import_bank_package(
        other_site, chair, archive.read_bytes(), source="  Fernside   bank "
    )
    assert (summary.package_id, summary.source) == (row.package_id, "Fernside bank")
    [imported] = bank.list_bank(other_site, chair)
    assert imported.title == row.title and imported.source == "Fernside bank"
    assert bank.bank_case(other_site, chair, imported.id).clips[0].video.is_file()
    with transaction(other_site.engine) as session:
        events = repository.list_audit_events(session=session, action="bank.import")
        assert [e.outcome for e in events] == ["ok", "refused"]


def test_a_tampered_package_is_refused(
    bank_ctx: AppContext, other_site: AppContext, tmp_path: Path
) -> None:
    with transaction(bank_ctx.engine) as session:
        [case, *_] = repository.list_bank_cases(session=session)
    copy = Path(shutil.copytree(case.package_path, tmp_path / "copy"))
    (copy / "video" / "clip-1.mp4").write_bytes(b"something else")
    chair = actor_named(other_site, "chair9")
    with pytest.raises(PackageIntegrityError, match=r"clip-1\.mp4 does not match its checksum"):
        bank.import_bank_package(other_site, chair, copy, source="elsewhere")
    assert bank.list_bank(other_site, chair) == []


def test_the_export_and_attempt_queries_on_both_databases(any_ctx: AppContext) -> None:
    from datetime import date

    from qa_meeting.store.models import (
        AgendaItem,
        BankAttempt,
        BankCase,
        Export,
        Meeting,
        Study,
    )
    from tests.conftest import add_actor

    trainee = add_actor(any_ctx, "trainee7", "trainee")
    with transaction(any_ctx.engine) as session:
        study = repository.add_study(session=session, study=Study(study_instance_uid="1.2.3"))
        assert study.id is not None
        for held, for_bank in ((date(2026, 1, 5), True), (date(2026, 2, 5), False)):
            meeting = repository.add_meeting(session=session, meeting=Meeting(held_on=held))
            assert meeting.id is not None
            item = AgendaItem(meeting_id=meeting.id, study_id=study.id, position=0)
            item.approved_for_bank = for_bank
            repository.save_agenda_item(session=session, item=item)
        for _ in range(2):
            repository.save_export(session=session, export=Export(study_id=study.id))
        case = BankCase(package_id="p", protocol_id="dvt", package_path="/nowhere")
        case_id = repository.add_bank_case(session=session, case=case).id
        assert case_id is not None
        attempt = BankAttempt(case_id=case_id, user_id=trainee.user_id, correct=1, total=2)
        repository.add_bank_attempt(session=session, attempt=attempt)
    with transaction(any_ctx.engine) as session:
        [approved] = repository.bank_approved_items(session=session)
        assert approved.study_id == study.id
        assert (
            repository.bank_approved_items(session=session, meeting_id=approved.meeting_id + 1)
            == []
        )
        ids = [r.id or 0 for r in repository.list_export_rows(session=session, study_id=study.id)]
        assert len(ids) == 2 and ids == sorted(ids, reverse=True)
        assert len(repository.list_export_rows(session=session, study_id=study.id + 1)) == 0
        [mine] = repository.list_bank_attempts(session=session, user_id=trainee.user_id)
        assert (mine.case_id, mine.correct, mine.total) == (case_id, 1, 2)
