"""Teaching-case packages: write one atomically, read and verify one, import one into the bank.

Writing builds everything in a hidden ``.<name>.partial-<hex>`` folder next to the destination:
de-identified DICOM (``deidentify`` is a parameter: the site's de-identification, or a stand-in
in tests), the MP4 and key frames made from the cleaned file's pixels, the TCE manifest (KOS),
``manifest.json`` with the checksums; then every file is fsynced, the folder is verified
(``package_verify``) and only then renamed to its final name. A failure or a kill at any point
leaves no folder under the final name; a partial folder left by a killed process is ignored by
everything here and removed by ``clean_partial_folders``.
"""

from __future__ import annotations

import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from qa_meeting import __version__
from qa_meeting.domain.deid import DeidReport
from qa_meeting.domain.package import (
    KOS_PATH,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    ClipRecord,
    KeyFrameRecord,
    Manifest,
    PackageFormatError,
    TeachingCase,
    choose_key_frames,
    clip_name,
    key_frame_path,
    manifest_to_dict,
    manifest_to_json,
    validate_manifest,
)
from qa_meeting.errors import ConflictError, QaMeetingError
from qa_meeting.imaging.colour import RGB
from qa_meeting.imaging.frames import DEFAULT_MAX_DECODED_BYTES, iter_rgb_frames, open_cine
from qa_meeting.imaging.stills import frame_png
from qa_meeting.imaging.tce_kos import inspect_exported_instance, tce_content, write_tce_kos
from qa_meeting.imaging.video import encode_mp4
from qa_meeting.services.context import AppContext
from qa_meeting.services.deidentify import deidentify_file, identifying_strings
from qa_meeting.services.package_verify import (
    Forbidden,
    VerifyReport,
    check_package_files,
    extract_package_zip,
    sha256_file,
    verify_package,
)
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import BankCase

DEFAULT_AUTHOR = "QA Meeting expert"
PARTIAL_MARK = ".partial-"
Deidentify = Callable[[Path, Path], object]
"""De-identify the DICOM file at the first path into the second (header and pixels)."""


class PackageRejectedError(QaMeetingError):
    """The built package failed verification; nothing was exported."""

    default_remedy = "Nothing was exported. Fix what the report names, then export again."

    def __init__(self, report: VerifyReport) -> None:
        super().__init__(f"The package did not pass verification:\n{report.summary()}")
        self.report = report


@dataclass(frozen=True)
class ClipSource:
    """One stored original to export, with its annotated and teaching-point frames (0-based)."""

    path: Path
    view: str | None = None
    key_frames: tuple[int, ...] = ()


@dataclass(frozen=True)
class WrittenPackage:
    path: Path
    manifest: Manifest
    report: VerifyReport


@dataclass(frozen=True)
class BankCaseSummary:
    id: int
    package_id: str
    title: str
    protocol_id: str
    level: str
    source: str
    package_path: Path
    clips: int


def write_package(
    dest: Path,
    case: TeachingCase,
    clips: Sequence[ClipSource],
    *,
    deidentify: Deidentify,
    forbidden: Iterable[str | Forbidden] = (),
    author: str = DEFAULT_AUTHOR,
    delay_for_expert_review: bool = False,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> WrittenPackage:
    """Build the package for ``case`` at ``dest`` (a folder that must not exist yet).

    ``deidentify`` is usually ``site_deidentifier(ctx, pseudonym=...)``. ``forbidden`` holds
    the original identifiers (``original_identifiers(clips)``, plus staff names); any of them
    found in the package blocks it (``PackageRejectedError`` carrying the report, which never
    shows the identifiers).
    """
    if not clips:
        raise PackageFormatError("A teaching case needs at least one clip to export.")
    blocked = list(forbidden)
    with _staging(dest) as staging:
        for folder in ("dicom", "video", "keyframes", "kos"):
            (staging / folder).mkdir()
        records = [
            _write_clip(staging, n, clip, deidentify, max_decoded_bytes)
            for n, clip in enumerate(clips, start=1)
        ]
        write_tce_kos(
            [staging / r.dicom for r in records],
            tce_content(case, author=author, delay_for_expert_review=delay_for_expert_review),
            staging / KOS_PATH,
        )
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            package_id=str(uuid.uuid4()),
            created_at=datetime.now(UTC).replace(microsecond=0),
            app_version=__version__,
            case=case,
            clips=tuple(records),
            kos=KOS_PATH,
            checksums={
                p.relative_to(staging).as_posix(): sha256_file(p)
                for p in sorted(staging.rglob("*"))
                if p.is_file()
            },
        )
        validate_manifest(manifest)  # strict on write: what read_package would refuse
        (staging / MANIFEST_NAME).write_text(manifest_to_json(manifest), encoding="utf-8")
        _fsync_tree(staging)
        report = verify_package(staging, blocked)
        if not report.ok:
            raise PackageRejectedError(report)
    return WrittenPackage(path=dest, manifest=manifest, report=report)


def site_deidentifier(
    ctx: AppContext,
    *,
    pseudonym: str,
    masks: Mapping[Path, Sequence[tuple[int, int, int, int]]] | None = None,
) -> Deidentify:
    """The site's de-identification (``services.deidentify``) shaped for ``write_package``;
    ``masks`` gives the expert's keep-rectangles per original. The contact sheet written beside
    each file is for the person who confirms the frames before export, not for the package."""

    def run(src: Path, dst: Path) -> DeidReport:
        mask = (masks or {}).get(src)
        report = deidentify_file(ctx, src, dst, pseudonym=pseudonym, mask=mask)
        Path(report.contact_sheet).unlink(missing_ok=True)
        return report

    return run


def original_identifiers(clips: Iterable[ClipSource]) -> set[str]:
    """What ``write_package`` must not find in the package: each original's identifiers."""
    return {value for clip in clips for value in identifying_strings(clip.path)}


def _write_clip(
    staging: Path, number: int, clip: ClipSource, deidentify: Deidentify, max_bytes: int
) -> ClipRecord:
    name = clip_name(number)
    dicom, video = f"dicom/{name}.dcm", f"video/{name}.mp4"
    cleaned = staging / dicom
    deidentify(clip.path, cleaned)
    info = open_cine(cleaned, max_decoded_bytes=max_bytes)
    keys = choose_key_frames(clip.key_frames, info.number_of_frames)
    targets = {k: staging / key_frame_path(name, k) for k in keys}
    frames = iter_rgb_frames(cleaned, max_decoded_bytes=max_bytes)
    encode_mp4(_saving_key_frames(frames, targets), info.timestamps_ms, staging / video)
    return ClipRecord(
        name=name,
        view=clip.view,
        dicom=dicom,
        video=video,
        key_frames=tuple(KeyFrameRecord(k, key_frame_path(name, k)) for k in keys),
        number_of_frames=info.number_of_frames,
        sop_instance_uid=inspect_exported_instance(cleaned).sop_instance_uid,
    )


def _saving_key_frames(frames: Iterator[RGB], targets: dict[int, Path]) -> Iterator[RGB]:
    """Pass the cleaned frames on to the encoder, writing the key frames as they go by."""
    for index, frame in enumerate(frames):
        if index in targets:
            frame_png(frame, targets[index])
        yield frame


def read_package(path: Path) -> Manifest:
    """The manifest of the package folder (or .zip) at ``path``, after checking every file.

    Raises ``PackageFormatError`` for a manifest of another schema or shape and
    ``PackageIntegrityError`` for a file or manifest changed after export.
    """
    if path.is_file() and zipfile.is_zipfile(path):
        with TemporaryDirectory(prefix="qa-package-") as scratch:
            return check_package_files(extract_package_zip(path, Path(scratch) / "package"))
    return check_package_files(path)


def import_package(ctx: AppContext, path: Path, *, source: str) -> BankCaseSummary:
    """Copy the package folder or .zip at ``path`` into <data_dir>/bank/<package_id>/ and add
    it to the bank. The copy is checked (checksums, de-identified DICOM, no private tags)
    before it is renamed into place; nothing is left behind on failure."""
    bank = ctx.settings.data_dir / "bank"
    bank.mkdir(parents=True, exist_ok=True)
    with TemporaryDirectory(prefix=f".import{PARTIAL_MARK}", dir=bank) as scratch:
        copy = Path(scratch) / "package"
        if path.is_file() and zipfile.is_zipfile(path):
            shutil.move(extract_package_zip(path, Path(scratch) / "unzipped"), copy)
        else:
            shutil.copytree(path, copy, symlinks=True)
        manifest = check_package_files(copy)
        report = verify_package(copy)
        if not report.ok:
            raise PackageRejectedError(report)
        _fsync_tree(copy)
        final = bank / manifest.package_id
        try:
            with transaction(ctx.engine) as session:
                known = repository.get_bank_case_by_package_id(
                    session=session, package_id=manifest.package_id
                )
                if known is not None:
                    raise ConflictError(f"Bank case {manifest.package_id} is already in the bank.")
                if final.exists():  # a process killed between the rename and the commit
                    raise ConflictError(
                        f"{final} exists but is not in the bank.",
                        "Remove that folder, then import the package again.",
                    )
                copy.rename(final)
                row = repository.add_bank_case(
                    session=session, case=bank_row(manifest, source, final)
                )
        except BaseException:
            if not copy.exists() and final.exists():
                shutil.rmtree(final, ignore_errors=True)
            raise
        _fsync(bank)
    assert row.id is not None
    return BankCaseSummary(
        id=row.id,
        package_id=row.package_id,
        title=row.title,
        protocol_id=row.protocol_id,
        level=row.level,
        source=row.source,
        package_path=final,
        clips=len(manifest.clips),
    )


def bank_row(manifest: Manifest, source: str, folder: Path) -> BankCase:
    """The bank's row for the package at ``folder`` (ours or another site's)."""
    case = manifest.case
    return BankCase(
        package_id=manifest.package_id,
        source=source[:200],
        title=case.title[:300],
        protocol_id=case.protocol_id,
        views=list(case.views),
        findings=list(case.findings),
        image_quality=case.image_quality,
        level=case.level.value,
        discordance=case.discordance,
        manifest=manifest_to_dict(manifest),
        package_path=str(folder.resolve()),
    )


def zip_package(folder: Path, out: Path) -> Path:
    """Zip the package at ``folder`` for transfer (its files at the zip's root), atomically."""
    read_package(folder)  # never ship a damaged package
    if out.exists():
        raise ConflictError(f"{out.name} already exists.")
    temporary = out.with_name(f".{out.name}{PARTIAL_MARK}{uuid.uuid4().hex[:12]}")
    try:
        with zipfile.ZipFile(temporary, "x") as archive:
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                packed = file.suffix in (".mp4", ".png")  # compressed already
                method = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
                archive.write(file, file.relative_to(folder).as_posix(), compress_type=method)
        _fsync(temporary)
        temporary.rename(out)
        _fsync(out.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return out


def clean_partial_folders(parent: Path, *, older_than_s: float = 3600.0) -> list[Path]:
    """Remove what killed writers and imports left in ``parent``; return what was removed.

    Only hidden ``*.partial-*`` entries older than ``older_than_s`` go, so a package being
    written right now by another process is left alone.
    """
    removed = []
    now = datetime.now(UTC).timestamp()
    for entry in parent.glob(f".*{PARTIAL_MARK}*"):
        if now - entry.lstat().st_mtime < older_than_s:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry)
    return removed


@contextmanager
def _staging(final: Path) -> Iterator[Path]:
    """A hidden folder next to ``final``, renamed to it when the block ends without error."""
    if final.exists():
        raise ConflictError(f"{final.name} already exists.")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}{PARTIAL_MARK}{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        yield staging
        if final.exists():  # os.rename would replace an empty folder that appeared meanwhile
            raise ConflictError(f"{final.name} already exists.")
        staging.rename(final)
        _fsync(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Every file written by the encoders and writers, then every folder, reaches the disk."""
    for entry in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        if not entry.is_symlink():
            _fsync(entry)
    _fsync(root)
