"""Exporting an approved demo case to the image bank: text scan, cleaning, masks, the human
check, publication (all or nothing), and nothing identifying anywhere in the package."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from qa_meeting.domain.deid import Rect
from qa_meeting.errors import (
    ConfigurationError,
    ConflictError,
    PermissionDeniedError,
    QaMeetingError,
    ValidationError,
)
from qa_meeting.imaging.synthetic import BANNER_ROWS, CineSpec, build_dataset
from qa_meeting.services import export, package
from qa_meeting.services.context import AppContext
from qa_meeting.services.deidentify import identifying_strings
from qa_meeting.services.dicomweb import PushReport
from qa_meeting.services.ingest import ingest_paths
from qa_meeting.services.package import PackageRejectedError, read_package
from qa_meeting.services.package_verify import verify_package
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ExportStatus, TeachingPoint
from tests.conftest import actor_named

NHS_NUMBER = "943 476 5919"  # a valid check digit
MARKER = "ZZMARKERZZ"


def _originals(ctx: AppContext, study_id: int) -> list[Path]:
    with transaction(ctx.engine) as session:
        clips = repository.list_clips(session=session, study_id=study_id)
        return [ctx.media.path_for(c.sha256) for c in clips]


# Name parts that are words the package holds for other reasons: the demo machine's maker
# ("QA Meeting Demo", kept in the header) and the manifest's own field names ("trainee_answer").
COMMON_WORDS = {"DEMO", "TRAINEE"}


def _identifiers(paths: list[Path]) -> set[str]:
    """Every identifier of the originals: whole names in every order, each name part but the
    common words, IDs, dates in every format, UIDs, places."""
    found = {v for p in paths for v in identifying_strings(p)}
    parts = {part for v in found if "^" in v for part in v.split("^")}
    return {v for v in found if "^" not in v} | (parts - COMMON_WORDS)


def _leaks(folder: Path, needles: set[str]) -> list[str]:
    """Needles found in any file's bytes (ASCII/UTF-8 and UTF-16, any case) or any name."""
    leaks = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix().lower()
        data = path.read_bytes().lower() if path.is_file() else b""
        for needle in needles:
            low = needle.lower()
            encoded = (low.encode(), low.encode("utf-16-le"))
            if low in name or any(e in data for e in encoded):
                leaks.append(f"{name}: {needle}")
    return leaks


def _plant(ctx: AppContext, study_id: int, text: str) -> None:
    with transaction(ctx.engine) as session:
        repository.add_teaching_point(
            session=session,
            point=TeachingPoint(study_id=study_id, text=text, category="knowledge", tags=[]),
        )


def _first_case(ctx: AppContext) -> int:
    return export.approved_cases(ctx, actor_named(ctx, "chair1"))[0].study_id


def test_an_approved_demo_case_goes_to_the_bank_clean(demo_ctx: AppContext) -> None:
    chair, expert = actor_named(demo_ctx, "chair1"), actor_named(demo_ctx, "expert1")
    cases = export.approved_cases(demo_ctx, expert)
    assert len(cases) == 2 and all(c.export_id is None for c in cases)
    assert cases[0].protocol_name == "FUSIC Heart" and cases[0].title
    study_id = cases[0].study_id
    view = export.start_export(demo_ctx, chair, study_id)
    assert view.status is ExportStatus.AWAITING_CONFIRMATION, view.message
    assert view.text_hits == () and view.clips
    for clip in view.clips:
        assert (clip.status, clip.method) == ("cleaned", "regions")
        assert clip.contact_sheet is not None and clip.contact_sheet.is_file()
        assert (
            clip.contact_sheet.parent
            == demo_ctx.settings.data_dir / "exports" / str(view.id) / "review"
        )
    published = export.confirm_and_publish(demo_ctx, expert, view.id, looked_at_every_frame=True)
    assert published.status is ExportStatus.PUBLISHED and published.package_path is not None
    assert published.package_path == demo_ctx.settings.data_dir / "bank" / published.package_id
    with transaction(demo_ctx.engine) as session:
        row = repository.get_bank_case_by_package_id(
            session=session, package_id=published.package_id
        )
        assert row is not None and row.protocol_id == "fusic_heart"
    manifest = read_package(published.package_path)
    assert manifest.case.findings and manifest.case.teaching_points
    originals = _identifiers(_originals(demo_ctx, study_id))
    assert verify_package(published.package_path, originals).ok
    assert _leaks(published.package_path, originals) == []
    assert export.approved_cases(demo_ctx, chair)[0].export_status is ExportStatus.PUBLISHED
    with pytest.raises(ConflictError, match="in the image bank already"):
        export.start_export(demo_ctx, chair, study_id)
    with transaction(demo_ctx.engine) as session:
        actions = [e.action for e in repository.list_audit_events(session=session)]
    for action in ("export.start", "export.scan", "export.clean", "export.confirm"):
        assert action in actions
    assert "export.publish" in actions


def test_a_planted_nhs_number_blocks_until_the_chair_overrides(demo_ctx: AppContext) -> None:
    chair, trainee = actor_named(demo_ctx, "chair1"), actor_named(demo_ctx, "trainee1")
    study_id = _first_case(demo_ctx)
    _plant(demo_ctx, study_id, f"Remember the patient with NHS number {NHS_NUMBER} on ward 4.")
    view = export.start_export(demo_ctx, chair, study_id)
    assert view.status is ExportStatus.BLOCKED and "look like identifiers" in view.message
    [hit] = view.text_hits
    assert (hit.kind, hit.field) == ("nhs_number", "teaching point 2")
    assert "[nhs number]" in hit.excerpt and "5919" not in hit.excerpt
    with pytest.raises(ConflictError, match="only an export awaiting confirmation"):
        export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=True)
    with pytest.raises(PermissionDeniedError):
        export.override_text(demo_ctx, trainee, view.id, reason="not a real number")
    with pytest.raises(ValidationError, match="holds an identifier"):
        export.override_text(demo_ctx, chair, view.id, reason=f"{NHS_NUMBER} is fake")
    overridden = export.override_text(demo_ctx, chair, view.id, reason="a made-up teaching number")
    assert overridden.status is ExportStatus.AWAITING_CONFIRMATION and overridden.text_override
    assert overridden.text_hits == view.text_hits
    with transaction(demo_ctx.engine) as session:
        events = repository.list_audit_events(session=session)
    [override] = [e for e in events if e.action == "export.override"]
    assert override.username == "chair1" and "a made-up teaching number" in override.detail
    assert any(e.action == "export.refused" and e.username == "trainee1" for e in events)
    assert not any("5919" in e.detail for e in events)
    again = export.start_export(demo_ctx, chair, study_id)  # same warnings: override kept
    assert again.id == view.id and again.text_override


def test_the_patient_name_in_text_blocks_and_an_override_cannot_let_it_out(
    demo_ctx: AppContext,
) -> None:
    chair = actor_named(demo_ctx, "chair1")
    study_id = _first_case(demo_ctx)
    [original] = _originals(demo_ctx, study_id)
    family, given = str(pydicom.dcmread(original, stop_before_pixels=True).PatientName).split("^")
    _plant(demo_ctx, study_id, f"Mr {given.title()} {family.title()} did well.")
    view = export.start_export(demo_ctx, chair, study_id)
    assert [h.kind for h in view.text_hits] == ["name"]
    assert given.lower() not in view.text_hits[0].excerpt.lower()
    with pytest.raises(ValidationError, match="holds an identifier"):
        export.override_text(demo_ctx, chair, view.id, reason=f"{given} is a made-up name")
    export.override_text(demo_ctx, chair, view.id, reason="the chair misjudged it")
    with pytest.raises(PackageRejectedError, match="did not pass verification") as refused:
        export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=True)
    assert given.lower() not in str(refused.value).lower()
    assert export.export_view(demo_ctx, chair, view.id).status is ExportStatus.FAILED
    assert not (demo_ctx.settings.data_dir / "bank").exists() or not any(
        (demo_ctx.settings.data_dir / "bank").iterdir()
    )


def _loop_without_regions(ctx: AppContext, study_id: int, folder: Path) -> int:
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
        assert study is not None
        uid = study.study_instance_uid
    spec = CineSpec(
        case_id="no-regions", scene="cardiac_a4c", rows=200, columns=240, frames=6,
        patient_name=f"{MARKER}^QUENTIN", patient_id=f"{MARKER}01", operator_name="WYNDHAM^OLIVE",
        institution_name=f"{MARKER} Hospital", manufacturer="ACME Medical", model_name="Sonic 9",
    )  # fmt: skip
    ds = build_dataset(spec)
    ds.StudyInstanceUID = uid
    del ds.SequenceOfUltrasoundRegions
    path = folder / f"{MARKER}.dcm"
    ds.save_as(path, enforce_file_format=True)
    [result] = ingest_paths(ctx, [path], actor=None)
    assert result.status.value == "stored" and result.study_id == study_id, result.reason
    with transaction(ctx.engine) as session:
        return max(c.id or 0 for c in repository.list_clips(session=session, study_id=study_id))


def test_a_loop_without_regions_needs_a_mask_drawn_by_an_expert(
    demo_ctx: AppContext, tmp_path: Path
) -> None:
    chair, expert = actor_named(demo_ctx, "chair1"), actor_named(demo_ctx, "expert1")
    study_id = _first_case(demo_ctx)
    clip_id = _loop_without_regions(demo_ctx, study_id, tmp_path)
    view = export.start_export(demo_ctx, chair, study_id)
    assert view.status is ExportStatus.BLOCKED and "draws the rectangle" in view.message
    [waiting] = [c for c in view.clips if c.clip_id == clip_id]
    assert (waiting.status, waiting.contact_sheet, waiting.mask) == ("needs_mask", None, None)
    assert (waiting.rows, waiting.columns) == (200, 240) and "needs a mask" in waiting.reason
    with pytest.raises(ConflictError):
        export.confirm_and_publish(demo_ctx, expert, view.id, looked_at_every_frame=True)
    with pytest.raises(PermissionDeniedError):
        export.set_mask(
            demo_ctx, actor_named(demo_ctx, "trainee1"), view.id, clip_id, Rect(0, 0, 9, 9)
        )
    with pytest.raises(ValidationError, match="outside"):
        export.set_mask(demo_ctx, expert, view.id, clip_id, Rect(0, 0, 240, 199))
    keep = Rect(0, BANNER_ROWS + 4, 239, 199)
    fixed = export.set_mask(demo_ctx, expert, view.id, clip_id, keep)
    [masked] = [c for c in fixed.clips if c.clip_id == clip_id]
    assert (masked.status, masked.method, masked.mask) == ("cleaned", "mask", (0, 32, 239, 199))
    assert masked.contact_sheet is not None and masked.contact_sheet.is_file()
    assert fixed.status is ExportStatus.AWAITING_CONFIRMATION
    again = export.start_export(demo_ctx, chair, study_id)  # the drawn mask is kept
    assert again.status is ExportStatus.AWAITING_CONFIRMATION
    published = export.confirm_and_publish(demo_ctx, expert, view.id, looked_at_every_frame=True)
    assert published.package_path is not None
    assert len(read_package(published.package_path).clips) == 2
    originals = _identifiers(_originals(demo_ctx, study_id)) | {MARKER}
    assert _leaks(published.package_path, originals) == []


@pytest.mark.parametrize("step", ["encoder", "bank row"])
def test_a_failure_while_publishing_leaves_no_package(
    demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    chair = actor_named(demo_ctx, "chair1")
    view = export.start_export(demo_ctx, chair, _first_case(demo_ctx))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk went away")

    with monkeypatch.context() as patch:
        if step == "encoder":
            patch.setattr(package, "encode_mp4", broken)
        else:
            patch.setattr(repository, "add_bank_case", broken)
        with pytest.raises(RuntimeError, match="disk went away"):
            export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=True)
    bank = demo_ctx.settings.data_dir / "bank"
    assert not bank.exists() or list(bank.iterdir()) == []
    folder = demo_ctx.settings.data_dir / "exports" / str(view.id)
    assert not (folder / "package").exists()
    after = export.export_view(demo_ctx, chair, view.id)
    assert after.status is ExportStatus.AWAITING_CONFIRMATION and after.package_path is None
    with transaction(demo_ctx.engine) as session:
        assert repository.list_bank_cases(session=session) == []
        events = repository.list_audit_events(session=session, action="export.publish")
        assert [(e.outcome, e.detail) for e in events] == [("failed", "RuntimeError")]
    assert (
        export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=True).status
        is ExportStatus.PUBLISHED
    )


def test_what_is_refused_and_to_whom(demo_ctx: AppContext) -> None:
    chair, expert = actor_named(demo_ctx, "chair1"), actor_named(demo_ctx, "expert1")
    trainee = actor_named(demo_ctx, "trainee1")
    approved = {c.study_id for c in export.approved_cases(demo_ctx, chair)}
    with transaction(demo_ctx.engine) as session:
        studies = repository.list_studies(session=session)
    other = next(s.id for s in studies if s.id not in approved)
    assert other is not None
    with pytest.raises(ValidationError, match="not approved for the image bank") as refused:
        export.start_export(demo_ctx, chair, other)
    assert "chair approves it" in refused.value.remedy
    with pytest.raises(PermissionDeniedError):
        export.start_export(demo_ctx, expert, min(approved))
    for call in (export.approved_cases, export.list_exports):
        with pytest.raises(PermissionDeniedError):
            call(demo_ctx, trainee)
    view = export.start_export(demo_ctx, chair, min(approved), meeting_id=1)
    assert [v.id for v in export.list_exports(demo_ctx, expert)] == [view.id]
    with pytest.raises(ConflictError, match="not published"):
        export.push_export(demo_ctx, chair, view.id)


def test_pushing_sends_the_package_loops_and_its_kos(
    demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    chair = actor_named(demo_ctx, "chair1")
    view = export.start_export(demo_ctx, chair, _first_case(demo_ctx))
    published = export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=True)
    with pytest.raises(ConfigurationError, match="DICOMweb is not configured"):
        export.push_export(demo_ctx, chair, view.id)
    sent: list[Path] = []

    def fake_push(ctx: AppContext, paths: list[Path]) -> object:
        sent.extend(paths)
        return PushReport("http://bank.example", ())

    monkeypatch.setattr(export, "push_files", fake_push)
    report = export.push_export(demo_ctx, chair, view.id)
    assert report.server == "http://bank.example"
    assert published.package_path is not None
    relative = [p.relative_to(published.package_path).as_posix() for p in sent]
    assert relative == ["dicom/clip-1.dcm", "kos/tce.dcm"]
    with pytest.raises(QaMeetingError):
        export.push_export(demo_ctx, actor_named(demo_ctx, "expert1"), view.id)


def test_text_added_after_the_check_stops_the_publication(demo_ctx: AppContext) -> None:
    chair = actor_named(demo_ctx, "chair1")
    study_id = _first_case(demo_ctx)
    view = export.start_export(demo_ctx, chair, study_id)
    assert view.status is ExportStatus.AWAITING_CONFIRMATION
    _plant(demo_ctx, study_id, "Call 07700 900123 for the echo report.")
    with pytest.raises(ConflictError, match="text changed after the export was checked"):
        export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=True)
    stopped = export.export_view(demo_ctx, chair, view.id)
    assert stopped.status is ExportStatus.BLOCKED and "text changed" in stopped.message
    with pytest.raises(ConflictError, match="text changed"):
        export.override_text(demo_ctx, chair, view.id, reason="fine")
    again = export.start_export(demo_ctx, chair, study_id)
    assert [h.kind for h in again.text_hits] == ["phone"] and "900123" not in again.text_hits[
        0
    ].excerpt
    assert not (demo_ctx.settings.data_dir / "bank").exists()


def test_nothing_is_published_without_the_human_check(demo_ctx: AppContext) -> None:
    from qa_meeting.errors import ValidationError

    chair = actor_named(demo_ctx, "chair1")
    case = export.approved_cases(demo_ctx, chair)[0]
    view = export.start_export(demo_ctx, chair, case.study_id, meeting_id=case.meeting_id)
    assert view.status is ExportStatus.AWAITING_CONFIRMATION
    with pytest.raises(ValidationError, match="looked at every cleaned frame"):
        export.confirm_and_publish(demo_ctx, chair, view.id, looked_at_every_frame=False)
    assert export.export_view(demo_ctx, chair, view.id).status is ExportStatus.AWAITING_CONFIRMATION
