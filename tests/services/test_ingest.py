"""Ingest of folders, files, zips and uploads: what is stored, what is refused, what is left."""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlmodel import select

from qa_meeting.domain.scans import IngestResult, IngestStatus
from qa_meeting.services import ingest
from qa_meeting.services.context import AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.media import sha256_file
from qa_meeting.store.models import AuditEvent, Clip, Study
from tests.conftest import add_actor
from tests.samples import expected_code, sample_names, samples_dir, us_dataset, write_dataset

SAMPLE = "orthanc-tests__Issue19.dcm"
CINE = "orthanc-tests__Issue16.dcm"


def _rows(ctx: AppContext) -> tuple[list[Clip], list[Study], list[AuditEvent]]:
    with transaction(ctx.engine) as session:
        clips = list(session.exec(select(Clip)).all())
        studies = list(session.exec(select(Study)).all())
        events = list(session.exec(select(AuditEvent)).all())
    return clips, studies, events


def _media_files(ctx: AppContext) -> list[Path]:
    root = ctx.media.root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _by_name(results: list[IngestResult]) -> dict[str, IngestResult]:
    return {Path(r.path).name: r for r in results}


def _patient_words() -> set[str]:
    words: set[str] = set()
    for name in sample_names():
        try:
            ds = pydicom.dcmread(samples_dir() / name, stop_before_pixels=True)
            name = ds.get("PatientName")
            if name:
                words |= {str(name), name.family_name, name.given_name}
            words.add(str(ds.get("PatientID", "")).strip())
        except Exception:
            continue
    return {w for w in words if len(w) >= 4}


def test_samples_folder_stores_ultrasound_and_refuses_the_rest(any_ctx: AppContext) -> None:
    results = ingest.ingest_paths(any_ctx, [samples_dir()], actor=None)
    by_name = _by_name(results)
    assert sorted(by_name) == sample_names()  # every file once, in name order
    assert [Path(r.path).name for r in results] == sample_names()
    for name, result in by_name.items():
        code = expected_code(name)
        if code is None:
            assert result.status == IngestStatus.STORED, (name, result.reason)
            assert result.sop_instance_uid and result.study_id
        else:
            assert result.status == IngestStatus.REJECTED, name
            assert result.code == code and result.reason, name
            assert result.sop_instance_uid is None and result.study_id is None

    clips, studies, events = _rows(any_ctx)
    stored = [r for r in results if r.status == IngestStatus.STORED]
    assert sorted(c.sop_instance_uid for c in clips) == sorted(
        r.sop_instance_uid or "" for r in stored
    )
    assert {s.id for s in studies} == {r.study_id for r in stored}
    # Only the stored originals are on disk: rejected files left nothing behind.
    assert _media_files(any_ctx) == sorted(any_ctx.media.path_for(c.sha256) for c in clips)
    for clip in clips:
        assert sha256_file(any_ctx.media.path_for(clip.sha256)) == clip.sha256
    assert len(events) == len(results)
    assert {(e.action, e.outcome) for e in events} == {("ingest", "stored"), ("ingest", "rejected")}


def test_reingest_is_already_stored_and_changes_nothing(ctx: AppContext) -> None:
    first = ingest.ingest_paths(ctx, [samples_dir()], actor=None)
    files_before, rows_before = _media_files(ctx), _rows(ctx)[0]
    again = ingest.ingest_paths(ctx, [samples_dir()], actor=None)
    for before, after in zip(first, again, strict=True):
        if before.status == IngestStatus.STORED:
            assert after.status == IngestStatus.ALREADY_STORED
            assert (after.sop_instance_uid, after.study_id) == (
                before.sop_instance_uid,
                before.study_id,
            )
            assert "already stored" in after.reason.lower()
        else:
            assert after == before
    assert _media_files(ctx) == files_before
    assert len(_rows(ctx)[0]) == len(rows_before)


def test_reingest_restores_a_lost_original(ctx: AppContext) -> None:
    [first] = ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=None)
    [lost] = _media_files(ctx)
    lost.unlink()
    [again] = ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=None)
    assert again.status == IngestStatus.ALREADY_STORED and "restored" in again.reason
    assert lost.read_bytes() == (samples_dir() / SAMPLE).read_bytes()
    assert len(_rows(ctx)[0]) == 1 and first.study_id == again.study_id


def test_same_uid_different_bytes_is_a_conflict(any_ctx: AppContext, tmp_path: Path) -> None:
    original = write_dataset(us_dataset(), tmp_path / "a.dcm")
    [stored] = ingest.ingest_paths(any_ctx, [original], actor=None)
    assert stored.status == IngestStatus.STORED
    [clip_before], _, _ = _rows(any_ctx)
    stored_bytes = any_ctx.media.path_for(clip_before.sha256).read_bytes()

    changed = us_dataset(pixel_bytes=bytes([7]) * (32 * 48 * 3))  # same UIDs, other pixels
    [result] = ingest.ingest_paths(
        any_ctx, [write_dataset(changed, tmp_path / "b.dcm")], actor=None
    )

    assert result.status == IngestStatus.CONFLICT
    assert result.sop_instance_uid == stored.sop_instance_uid
    assert "kept" in result.reason
    [clip_after], _, events = _rows(any_ctx)
    assert clip_after == clip_before
    assert any_ctx.media.path_for(clip_before.sha256).read_bytes() == stored_bytes
    assert _media_files(any_ctx) == [any_ctx.media.path_for(clip_before.sha256)]
    assert events[-1].outcome == "conflict"


def test_study_rows_copy_the_header_and_trainee_is_the_operator(ctx: AppContext) -> None:
    trainee = add_actor(ctx, "tess", "trainee")
    expert = add_actor(ctx, "erin", "expert")
    [mine] = ingest.ingest_paths(ctx, [samples_dir() / CINE], actor=trainee)
    [theirs] = ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=expert)
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=mine.study_id or 0)
        other = repository.get_study(session=session, study_id=theirs.study_id or 0)
        clip = repository.get_clip_by_sop_uid(
            session=session, sop_instance_uid=mine.sop_instance_uid or ""
        )
    assert study is not None and other is not None and clip is not None
    assert study.operator_id == trainee.user_id and other.operator_id is None
    assert (study.manufacturer, study.status) == ("Hewlett-Packard", "awaiting_read")
    assert study.scanned_on is not None and study.scanned_on.isoformat() == "2000-02-23"
    assert (clip.number_of_frames, clip.rows, clip.columns) == (34, 430, 480)
    assert clip.frame_time_ms == pytest.approx(30.0) and clip.has_ultrasound_regions
    assert clip.ingested_by == trainee.user_id and clip.original_name == CINE
    assert "34 frames" in mine.reason


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_upload(ctx: AppContext) -> None:
    folder = samples_dir()
    data = _zip(
        {
            "export/b/cine.dcm": (folder / CINE).read_bytes(),
            "export/a/still.dcm": (folder / SAMPLE).read_bytes(),
            "export/notes.txt": b"not an image",
            "__MACOSX/export/._still.dcm": b"resource fork",
            "export/.DS_Store": b"finder",
        }
    )
    results = ingest.ingest_upload(ctx, "C:\\Users\\me\\study.zip", io.BytesIO(data), actor=None)
    assert [(r.path, r.status.value) for r in results] == [
        ("study.zip:export/a/still.dcm", "stored"),
        ("study.zip:export/b/cine.dcm", "stored"),
        ("study.zip:export/notes.txt", "rejected"),
    ]
    clips = {c.original_name for c in _rows(ctx)[0]}
    assert clips == {"study.zip:export/a/still.dcm", "study.zip:export/b/cine.dcm"}
    assert {c.source for c in _rows(ctx)[0]} == {"upload"}
    again = ingest.ingest_upload(ctx, "study.zip", data, actor=None)
    assert [r.status.value for r in again] == ["already_stored", "already_stored", "rejected"]


def test_single_file_upload_is_reported_by_its_name(ctx: AppContext) -> None:
    data = (samples_dir() / SAMPLE).read_bytes()
    [result] = ingest.ingest_upload(ctx, "loop.dcm", data, actor=None)
    assert (result.path, result.status) == ("loop.dcm", IngestStatus.STORED)
    [empty] = ingest.ingest_upload(ctx, "empty.dcm", b"", actor=None)
    assert (empty.status, empty.code) == (IngestStatus.REJECTED, "empty")


@pytest.mark.parametrize("evil", ["../escape.dcm", "/etc/escape.dcm", "a/../../escape.dcm"])
def test_zip_with_path_traversal_is_refused_whole(ctx: AppContext, evil: str) -> None:
    data = _zip({"ok.dcm": (samples_dir() / SAMPLE).read_bytes(), evil: b"x"})
    results = ingest.ingest_upload(ctx, "evil.zip", data, actor=None)
    assert [(r.path, r.status.value, r.code) for r in results] == [
        ("evil.zip", "rejected", "unsafe_archive")
    ]
    assert _rows(ctx)[0] == [] and _media_files(ctx) == []


def test_zip_bomb_is_refused_before_unpacking(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = replace(ctx, settings=replace(ctx.settings, max_decoded_mb=1))
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_zip({"a.dcm": bytes(3 * 2**20)}))  # 3 MB of zeros, a few kB zipped
    assert bomb.stat().st_size < 50_000

    def no_extraction(*_args: object) -> None:
        raise AssertionError("nothing may be unpacked from a refused archive")

    monkeypatch.setattr(ingest, "extract_entry", no_extraction)
    [result] = ingest.ingest_paths(small, [bomb], actor=None)
    assert (result.status, result.code) == (IngestStatus.REJECTED, "unsafe_archive")
    assert "MB" in result.reason


def test_damaged_zip_is_refused(ctx: AppContext, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 this is not really a zip")
    [result] = ingest.ingest_paths(ctx, [damaged], actor=None)
    assert (result.status, result.code) == (IngestStatus.REJECTED, "unreadable_archive")


def test_folder_walk_skips_hidden_files_and_refuses_the_dicomdir(
    ctx: AppContext, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    (export / "IMAGES").mkdir(parents=True)
    (export / ".hidden").mkdir()
    shutil.copy(samples_dir() / SAMPLE, export / "IMAGES" / "IM0001")
    shutil.copy(samples_dir() / CINE, export / ".hidden" / "IM0002")
    (export / ".DS_Store").write_bytes(b"finder")
    dicomdir = us_dataset(with_pixels=False)
    dicomdir.file_meta.MediaStorageSOPClassUID = pydicom.uid.MediaStorageDirectoryStorage
    dicomdir.SOPClassUID = pydicom.uid.MediaStorageDirectoryStorage
    write_dataset(dicomdir, export / "DICOMDIR")

    results = ingest.ingest_paths(ctx, [export], actor=None)
    assert [(Path(r.path).name, r.status.value, r.code) for r in results] == [
        ("DICOMDIR", "rejected", "dicomdir"),
        ("IM0001", "stored", None),
    ]
    assert "DICOMDIR index, not an image" in results[0].reason


def test_missing_path_is_refused(ctx: AppContext, tmp_path: Path) -> None:
    [result] = ingest.ingest_paths(ctx, [tmp_path / "nowhere.dcm"], actor=None)
    assert (result.status, result.code) == (IngestStatus.REJECTED, "cannot_open")


def test_database_failure_leaves_no_orphan_media(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_add_clip(**_kwargs: object) -> Clip:
        raise RuntimeError("database went away")

    monkeypatch.setattr(repository, "add_clip", broken_add_clip)
    with pytest.raises(RuntimeError, match="database went away"):
        ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=None)
    clips, studies, _ = _rows(ctx)
    assert clips == [] and studies == []  # the study insert was rolled back too
    assert _media_files(ctx) == []


def test_database_failure_keeps_an_original_that_was_already_there(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ctx.media.put_file(samples_dir() / SAMPLE)  # e.g. restored from a backup, row lost
    monkeypatch.setattr(repository, "add_clip", lambda **_: (_ for _ in ()).throw(RuntimeError()))
    with pytest.raises(RuntimeError):
        ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=None)
    assert _media_files(ctx) == [ctx.media.path_for(sha256_file(samples_dir() / SAMPLE))]


def test_a_concurrent_store_of_the_same_file_reads_as_already_stored(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=None)
    real_lookup = repository.get_clip_by_sop_uid
    lookups: list[str] = []

    def racing_lookup(**kwargs: Any) -> Clip | None:
        lookups.append(kwargs["sop_instance_uid"])
        # The first lookup misses, as if the other writer had not committed yet.
        return None if len(lookups) == 1 else real_lookup(**kwargs)

    monkeypatch.setattr(repository, "get_clip_by_sop_uid", racing_lookup)
    [second] = ingest.ingest_paths(ctx, [samples_dir() / SAMPLE], actor=None)
    assert second.status == IngestStatus.ALREADY_STORED
    assert second.study_id == first.study_id
    assert len(lookups) == 2  # the miss, then the re-check after the unique-key violation
    assert len(_media_files(ctx)) == 1 and len(_rows(ctx)[0]) == 1


def test_audit_events_never_hold_patient_names(ctx: AppContext) -> None:
    actor = add_actor(ctx, "tess", "trainee")
    results = ingest.ingest_paths(ctx, [samples_dir()], actor=actor)
    ingest.ingest_paths(ctx, [samples_dir()], actor=actor)
    _, _, events = _rows(ctx)
    ingest_events = [e for e in events if e.action == "ingest"]
    assert len(ingest_events) == 2 * len(results)
    assert {e.user_id for e in ingest_events} == {actor.user_id}
    words = _patient_words()
    assert words, "the samples should carry some (fake) patient names to check against"
    text = " ".join(f"{e.target} {e.detail} {e.username}" for e in ingest_events)
    text += " ".join(r.reason for r in results)
    for word in words:
        assert word not in text, f"patient identifier {word!r} leaked into the audit trail"
