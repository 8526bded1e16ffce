"""Teaching-case packages: layout, manifest, KOS, cleaned media, verifier, import, atomicity.

The packages are built with the site's real de-identification (``services.deidentify``).
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from qa_meeting.domain.package import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    ClinicalContext,
    Level,
    PackageFormatError,
    PackageIntegrityError,
    QuestionRecord,
    TeachingCase,
    TeachingPointRecord,
    manifest_to_json,
)
from qa_meeting.errors import ConflictError, QaMeetingError
from qa_meeting.imaging.synthetic import BANNER_ROWS, CineSpec, write_cine
from qa_meeting.imaging.tce_kos import read_tce_kos
from qa_meeting.imaging.video import iter_video_frames, probe_video
from qa_meeting.services import package_verify
from qa_meeting.services.context import AppContext
from qa_meeting.services.package import (
    ClipSource,
    Deidentify,
    PackageRejectedError,
    WrittenPackage,
    clean_partial_folders,
    import_package,
    original_identifiers,
    read_package,
    site_deidentifier,
    write_package,
    zip_package,
)
from qa_meeting.services.package_verify import (
    Forbidden,
    IdentifierKind,
    sha256_file,
    verify_package,
)
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from tests.conftest import make_context

PATIENT = "QUILLFEATHER^ZEBEDEE"
PATIENT_ID = "ZX987654"
BIRTH_DATE = "19571203"
INSTITUTION = "Fernhill Infirmary"
OPERATOR = "MARGOLYES^PENELOPE"
ACCESSION = "ACC445566"


@dataclass(frozen=True)
class Originals:
    clips: tuple[ClipSource, ...]
    forbidden: tuple[str | Forbidden, ...]


def _spec(case_id: str, scene: str) -> CineSpec:
    return CineSpec(
        case_id=case_id,
        scene=scene,
        rows=160,
        columns=200,
        frames=9,
        patient_name=PATIENT,
        patient_id=PATIENT_ID,
        patient_birth_date=BIRTH_DATE,
        institution_name=INSTITUTION,
        operator_name=OPERATOR,
        accession_number=ACCESSION,
        study_key="one-study",
    )


@pytest.fixture(scope="module")
def deidentify(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deidentify]:
    """The site's de-identification, with its own data folder (and so its own secret)."""
    context = make_context(tmp_path_factory.mktemp("deid") / "data")
    yield site_deidentifier(context, pseudonym="TEACHING^CASE")
    context.engine.dispose()


def _case(title: str = "Pericardial effusion missed on a parasternal long axis") -> TeachingCase:
    return TeachingCase(
        protocol_id="fusic_heart",
        protocol_name="FUSIC Heart",
        title=title,
        level=Level.INTERMEDIATE,
        views=("plax", "a4c"),
        questions=(
            QuestionRecord("effusion", "Pericardial effusion?", "no", "No", "yes", "Yes"),
            QuestionRecord("lv", "LV function?", None, "", "normal", "Normal"),
        ),
        expert_reasoning="Echo-free space anterior to the RV, swinging heart.",
        teaching_points=(
            TeachingPointRecord("Look behind the LV posterior wall.", "technique", ("plax",), 6),
        ),
        tags=("effusion", "missed"),
        findings=("Pericardial effusion",),
        diagnosis="Moderate pericardial effusion",
        image_quality=4,
        discordance="major",
        diagnostic_confidence="high",
        clinical_context=ClinicalContext("60-69", "F", "Breathless, low blood pressure"),
    )


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Originals:
    folder = tmp_path_factory.mktemp("originals")
    first = write_cine(_spec("pkg-a", "pericardial_effusion"), folder / "a.dcm")
    second = write_cine(_spec("pkg-b", "cardiac_a4c"), folder / "b.dcm")
    uids = [
        str(pydicom.dcmread(p, stop_before_pixels=True)[k].value)
        for p in (first, second)
        for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    ]
    forbidden: tuple[str | Forbidden, ...] = (
        Forbidden(PATIENT, IdentifierKind.PATIENT_NAME),
        Forbidden(PATIENT_ID, IdentifierKind.PATIENT_ID),
        Forbidden(BIRTH_DATE, IdentifierKind.BIRTH_DATE),
        Forbidden(ACCESSION, IdentifierKind.ACCESSION),
        INSTITUTION,
        OPERATOR,
        *(Forbidden(uid, IdentifierKind.UID) for uid in uids),
    )
    clips = (ClipSource(first, "plax", key_frames=(2, 6)), ClipSource(second, "a4c"))
    found = original_identifiers(clips)
    assert {PATIENT, PATIENT_ID, INSTITUTION, *uids} <= found
    return Originals(clips=clips, forbidden=(*forbidden, *sorted(found)))


@pytest.fixture(scope="module")
def built(
    originals: Originals, deidentify: Deidentify, tmp_path_factory: pytest.TempPathFactory
) -> WrittenPackage:
    dest = tmp_path_factory.mktemp("export") / "case-1"
    return write_package(
        dest, _case(), originals.clips, deidentify=deidentify, forbidden=originals.forbidden
    )


@pytest.fixture
def package(built: WrittenPackage, tmp_path: Path) -> Path:
    """A private copy of the built package, free to tamper with."""
    return Path(shutil.copytree(built.path, tmp_path / "copy"))


def test_the_package_holds_every_file_under_names_free_of_identifiers(
    built: WrittenPackage,
) -> None:
    files = sorted(p.relative_to(built.path).as_posix() for p in built.path.rglob("*.*"))
    assert files == [
        "dicom/clip-1.dcm",
        "dicom/clip-2.dcm",
        "keyframes/clip-1-frame-0002.png",
        "keyframes/clip-1-frame-0006.png",
        "keyframes/clip-2-frame-0004.png",  # no annotation: the middle frame
        "kos/tce.dcm",
        MANIFEST_NAME,
        "video/clip-1.mp4",
        "video/clip-2.mp4",
    ]
    assert built.report.ok, built.report.summary()
    assert not [p for p in built.path.parent.iterdir() if p.name.startswith(".")]


def test_the_manifest_holds_the_case_and_a_checksum_for_every_other_file(
    built: WrittenPackage,
) -> None:
    data = json.loads((built.path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION
    assert uuid.UUID(data["package_id"]).version == 4
    assert data["app_version"]
    assert data["case"]["questions"][0]["expert_answer_label"] == "Yes"
    assert data["case"]["clinical_context"] == {
        "age_band": "60-69",
        "sex": "F",
        "indication": "Breathless, low blood pressure",
    }
    files = {p.relative_to(built.path).as_posix() for p in built.path.rglob("*") if p.is_file()}
    assert set(data["checksums"]) == files - {MANIFEST_NAME}
    for relative, checksum in data["checksums"].items():
        assert checksum == sha256_file(built.path / relative)
    assert read_package(built.path) == built.manifest
    assert built.manifest.case == _case()


def test_the_kos_references_every_exported_instance_with_the_tce_content(
    built: WrittenPackage,
) -> None:
    document = read_tce_kos(built.path / "kos" / "tce.dcm")
    assert document.title == ("TCE001", "IHERADTF", "For Teaching File Export")
    exported = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
        for p in (built.path / "dicom").iterdir()
    }
    assert document.referenced_sop_instance_uids == exported == document.content_references
    assert {c.sop_instance_uid for c in built.manifest.clips} == exported
    assert document.texts["TCE101"] == ("QA Meeting expert",)
    for concept in ("TCE104", "TCE105", "121060", "121071", "TCE106", "TCE107"):
        assert document.texts[concept], concept
    assert document.codes["TCE109"] == ("TCE309",)
    assert document.codes["TCE110"] == ("TCE202",)
    assert document.patient_identity_removed == "YES"


def test_video_and_key_frames_come_from_the_cleaned_pixels(built: WrittenPackage) -> None:
    for key in (built.path / "keyframes").iterdir():
        image = np.asarray(Image.open(key))
        assert image[:BANNER_ROWS].max() == 0, key.name
        assert image[BANNER_ROWS:].max() > 0, key.name
    assert probe_video(built.path / "video" / "clip-1.mp4").frames == 9
    frame, _ = next(iter_video_frames(built.path / "video" / "clip-1.mp4"))
    assert frame[: BANNER_ROWS - 4].mean() < 2.0  # H.264 leaves no banner text either


def test_a_clean_package_passes_and_short_strings_are_not_searched(built: WrittenPackage) -> None:
    report = verify_package(built.path, ["M", "1", "O", PATIENT, PATIENT_ID, INSTITUTION])
    assert report.ok, report.summary()
    assert report.strings_ignored == 3


def test_a_planted_identifier_in_a_private_tag_blocks(package: Path) -> None:
    path = package / "dicom" / "clip-1.dcm"
    ds = pydicom.dcmread(path)
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "Zebedee Quillfeather")
    ds.save_as(path, enforce_file_format=True)
    report = verify_package(package, [Forbidden(PATIENT, IdentifierKind.PATIENT_NAME)])
    kinds = {(f.file, f.kind) for f in report.findings}
    assert ("dicom/clip-1.dcm", "private tag") in kinds
    assert ("dicom/clip-1.dcm", "identifier in file content") in kinds
    assert ("dicom/clip-1.dcm", "identifier in DICOM header") in kinds
    assert ("dicom/clip-1.dcm", "checksum") in kinds
    assert "zebedee" not in report.summary().lower()
    assert "patient name part #" in report.summary()


def test_a_planted_identifier_in_a_file_name_blocks(package: Path) -> None:
    (package / "keyframes" / "clip-1-frame-0002.png").rename(
        package / "keyframes" / f"{PATIENT_ID.lower()}.png"
    )
    report = verify_package(package, [Forbidden(PATIENT_ID, IdentifierKind.PATIENT_ID)])
    assert any(f.kind == "identifier in file name" for f in report.findings)
    assert PATIENT_ID.lower() not in report.summary().lower().replace(
        f"keyframes/{PATIENT_ID.lower()}.png", ""
    )


@pytest.mark.parametrize(
    ("title", "forbidden"),
    [
        ("Effusion in Mr Quillfeather", Forbidden(PATIENT, IdentifierKind.PATIENT_NAME)),
        ("Born 03/12/1957, effusion", Forbidden(BIRTH_DATE, IdentifierKind.BIRTH_DATE)),
        ("Seen at FERNHILL INFIRMARY", INSTITUTION),
        ("Bed 42 effusion", Forbidden("42", IdentifierKind.PATIENT_ID)),
    ],
)
def test_an_identifier_in_the_manifest_text_blocks_the_export(
    originals: Originals,
    deidentify: Deidentify,
    tmp_path: Path,
    title: str,
    forbidden: str | Forbidden,
) -> None:
    with pytest.raises(PackageRejectedError) as caught:
        write_package(
            tmp_path / "case",
            _case(title),
            originals.clips[:1],
            deidentify=deidentify,
            forbidden=[forbidden],
        )
    findings = caught.value.report.findings
    assert any(f.file == MANIFEST_NAME and f.kind == "identifier in manifest" for f in findings)
    assert list(tmp_path.iterdir()) == []  # neither the package nor its staging folder


def test_text_is_found_in_utf16_latin1_and_any_case(tmp_path: Path) -> None:
    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "a.bin").write_bytes(b"\x00\x01" + "Zebedee".encode("utf-16-le"))
    (tmp_path / "video" / "b.bin").write_bytes(b"\xff" + "Zoë Müller".encode("latin-1"))
    (tmp_path / "video" / "c.bin").write_bytes("JOSÉ".encode("utf-16-be"))
    report = verify_package(tmp_path, ["ZEBEDEE", "zoë müller", "josé"])
    hits = {f.file for f in report.findings if f.kind == "identifier in file content"}
    assert hits == {"video/a.bin", "video/b.bin", "video/c.bin"}


def test_a_tampered_file_is_refused_with_a_clear_message(package: Path) -> None:
    path = package / "dicom" / "clip-1.dcm"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PackageIntegrityError, match=r"clip-1\.dcm does not match its checksum: "):
        read_package(package)
    with pytest.raises(PackageIntegrityError, match="the package was changed after export"):
        read_package(package)


def test_a_tampered_manifest_or_another_schema_is_refused(package: Path) -> None:
    manifest = package / MANIFEST_NAME
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "case": {**data["case"], "level": "advanced"}}))
    with pytest.raises(PackageIntegrityError, match=r"manifest\.json does not match its checksum"):
        read_package(package)
    manifest.write_text(json.dumps({**data, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(PackageFormatError, match="Update QA Meeting"):
        read_package(package)


def test_an_extra_or_missing_file_is_refused(package: Path) -> None:
    (package / "video" / "extra.mp4").write_bytes(b"x")
    with pytest.raises(PackageIntegrityError, match=r"extra\.mp4 is not listed"):
        read_package(package)
    (package / "video" / "extra.mp4").unlink()
    (package / "video" / "clip-2.mp4").unlink()
    with pytest.raises(PackageIntegrityError, match=r"clip-2\.mp4 is missing"):
        read_package(package)


def test_import_copies_the_package_into_the_bank(ctx: AppContext, built: WrittenPackage) -> None:
    summary = import_package(ctx, built.path, source="Fernside teaching bank")
    assert summary.package_path == ctx.settings.data_dir / "bank" / built.manifest.package_id
    assert read_package(summary.package_path) == built.manifest
    assert (summary.title, summary.level, summary.clips) == (_case().title, "intermediate", 2)
    with transaction(ctx.engine) as session:
        row = repository.get_bank_case_by_package_id(
            session=session, package_id=built.manifest.package_id
        )
        assert row is not None
        assert (row.protocol_id, row.views, row.findings) == (
            "fusic_heart",
            ["plax", "a4c"],
            ["Pericardial effusion"],
        )
        assert row.manifest["case"]["title"] == _case().title
    with pytest.raises(ConflictError):
        import_package(ctx, built.path, source="again")
    assert sorted(p.name for p in (ctx.settings.data_dir / "bank").iterdir()) == [
        built.manifest.package_id
    ]


def test_import_of_a_tampered_package_leaves_nothing(ctx: AppContext, package: Path) -> None:
    (package / "video" / "clip-1.mp4").write_bytes(b"not the video")
    with pytest.raises(PackageIntegrityError, match=r"clip-1\.mp4 does not match its checksum"):
        import_package(ctx, package, source="elsewhere")
    assert list((ctx.settings.data_dir / "bank").iterdir()) == []


def test_a_zipped_package_round_trips(
    ctx: AppContext, built: WrittenPackage, tmp_path: Path
) -> None:
    archive = zip_package(built.path, tmp_path / "case.zip")
    assert read_package(archive) == built.manifest
    summary = import_package(ctx, archive, source="by e-mail")
    assert read_package(summary.package_path) == built.manifest


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd-copy", "dicom\\..\\x.dcm"])
def test_an_unsafe_zip_is_refused(ctx: AppContext, tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(MANIFEST_NAME, "{}")
        z.writestr(name, "x")
    with pytest.raises(PackageFormatError, match="unsafe"):
        import_package(ctx, archive, source="unknown")
    assert list((ctx.settings.data_dir / "bank").iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_a_zip_that_expands_too_far_is_refused(
    ctx: AppContext, built: WrittenPackage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = zip_package(built.path, tmp_path / "case.zip")
    monkeypatch.setattr(package_verify, "MAX_PACKAGE_BYTES", 50_000)
    with pytest.raises(PackageFormatError, match="expands to more than"):
        import_package(ctx, archive, source="bomb")
    assert list((ctx.settings.data_dir / "bank").iterdir()) == []


def test_a_failure_midway_leaves_no_package(
    originals: Originals, deidentify: Deidentify, tmp_path: Path
) -> None:
    calls = []

    def failing_on_the_second_clip(src: Path, dst: Path) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise QaMeetingError("The de-identification stopped.")
        deidentify(src, dst)

    with pytest.raises(QaMeetingError, match="stopped"):
        write_package(
            tmp_path / "case",
            _case(),
            originals.clips,
            deidentify=failing_on_the_second_clip,
        )
    assert list(tmp_path.iterdir()) == []


def test_an_identifiable_instance_is_never_written(originals: Originals, tmp_path: Path) -> None:
    with pytest.raises(QaMeetingError, match="not de-identified"):
        write_package(
            tmp_path / "case",
            _case(),
            originals.clips,
            deidentify=lambda src, dst: shutil.copyfile(src, dst),
        )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_destination_is_not_replaced(
    originals: Originals, deidentify: Deidentify, tmp_path: Path
) -> None:
    (tmp_path / "case").mkdir()
    with pytest.raises(ConflictError):
        write_package(tmp_path / "case", _case(), originals.clips, deidentify=deidentify)


def _write_then_hang(dest: Path, clips: tuple[ClipSource, ...], deidentify: Deidentify) -> None:
    def hang_on_the_second_clip(src: Path, dst: Path) -> None:
        if src == clips[1].path:
            (dest.parent / "ready").touch()
            time.sleep(60)
        deidentify(src, dst)

    write_package(dest, _case(), clips, deidentify=hang_on_the_second_clip)


def test_a_killed_writer_leaves_only_a_partial_folder_that_is_ignored_and_cleaned(
    originals: Originals, deidentify: Deidentify, tmp_path: Path
) -> None:
    dest = tmp_path / "case"
    process = multiprocessing.get_context("fork").Process(
        target=_write_then_hang, args=(dest, originals.clips, deidentify)
    )
    process.start()
    try:
        for _ in range(600):
            if (tmp_path / "ready").exists():
                break
            time.sleep(0.05)
        assert (tmp_path / "ready").exists()
    finally:
        process.kill()  # SIGKILL: no cleanup runs
        process.join()
    [partial] = [p for p in tmp_path.iterdir() if p.name.startswith(".case.partial-")]
    assert (partial / "dicom" / "clip-1.dcm").is_file()
    assert not dest.exists()
    written = write_package(dest, _case(), originals.clips, deidentify=deidentify)
    assert read_package(written.path).package_id == written.manifest.package_id
    assert clean_partial_folders(tmp_path) == []  # too recent: it might still be writing
    assert clean_partial_folders(tmp_path, older_than_s=0) == [partial]
    assert not partial.exists() and dest.is_dir()


def test_the_written_manifest_can_be_rebuilt_identically(built: WrittenPackage) -> None:
    text = (built.path / MANIFEST_NAME).read_text(encoding="utf-8")
    assert manifest_to_json(built.manifest) == text
    assert replace(built.manifest, app_version="x") != built.manifest


def test_a_case_outside_the_schema_is_refused_before_anything_is_kept(
    originals: Originals, deidentify: Deidentify, tmp_path: Path
) -> None:
    case = replace(_case(), image_quality=7)
    with pytest.raises(PackageFormatError, match=r"manifest\.case\.image_quality"):
        write_package(tmp_path / "case", case, originals.clips[:1], deidentify=deidentify)
    assert list(tmp_path.iterdir()) == []
