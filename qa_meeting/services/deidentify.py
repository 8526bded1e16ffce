"""Use cases: de-identify loops for the image bank, and list a file's original identifiers.

``deidentify_file`` writes one de-identified DICOM file and its contact sheet (a PNG of every
distinct cleaned frame, for the person who confirms the loop is clean before it leaves),
each to a temporary name then renamed, so a failure leaves nothing behind.
``deidentify_paths`` does a file or a folder for the CLI, naming each output by its new SOP
Instance UID (input names may hold patient names) and reporting each file done or blocked.
The keys come from the ``deid_secret`` setting, else from ``<data_dir>/deid-secret``, made
with owner-only permissions on first use. Original identifiers never reach disk or logs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from qa_meeting.domain.deid import DeidKeys, DeidReport, DeidResult, NeedsMaskError, Rect
from qa_meeting.errors import ConfigurationError, QaMeetingError
from qa_meeting.imaging import deidentify as engine
from qa_meeting.imaging.deid_pixels import load_pixel_rules
from qa_meeting.imaging.deid_profile import HeaderPolicy
from qa_meeting.imaging.dicom_io import is_probably_dicom
from qa_meeting.services.context import AppContext

SECRET_FILE = "deid-secret"
SHEET_SUFFIX = ".contact-sheet.png"
PSEUDONYM_PREFIX = "ANONYMOUS^"

__all__ = ["deid_keys", "deidentify_file", "deidentify_paths", "identifying_strings"]


def deidentify_file(
    ctx: AppContext,
    src: Path,
    dst: Path,
    *,
    pseudonym: str,
    mask: Sequence[tuple[int, int, int, int]] | None = None,
    shift_dates: bool = True,
    retain_patient_characteristics: bool = True,
    contact_sheet: Path | None = None,
) -> DeidReport:
    """De-identify ``src`` into ``dst``, with its contact sheet for the check before release.

    The sheet goes to ``contact_sheet``, by default ``<dst stem>.contact-sheet.png`` beside
    ``dst`` (give another path to keep it out of a package folder).

    ``pseudonym`` becomes Patient Name (and, without the ^, Patient ID). ``mask`` lists
    rectangles (x0, y0, x1, y1, inclusive) to keep; it takes precedence over the file's
    ultrasound regions and the per-model rules. Raises ``NeedsMaskError`` when the file has
    no regions, no rule matches and no mask is given; other ``QaMeetingError``s name
    whatever could leave something identifying.
    """
    keys = deid_keys(ctx)
    policy = HeaderPolicy(shift_dates, retain_patient_characteristics)
    rects = tuple(Rect(*corners) for corners in mask) if mask else None
    sheet = contact_sheet or dst.with_name(dst.stem + SHEET_SUFFIX)
    with _atomic(dst) as out, _atomic(sheet) as sheet_out:
        report = engine.deidentify_dicom(
            src,
            out,
            pseudonym=pseudonym,
            keys=keys,
            policy=policy,
            rules=load_pixel_rules(),
            mask=rects,
            max_decoded_bytes=ctx.settings.max_decoded_mb * 2**20,
            contact_sheet=sheet_out,
        )
    return replace(report, output=str(dst), contact_sheet=str(sheet))


def deidentify_paths(
    ctx: AppContext,
    inputs: Path | Sequence[Path],
    out_dir: Path,
    *,
    mask: Sequence[tuple[int, int, int, int]] | None = None,
) -> list[DeidResult]:
    """De-identify a file, a folder (recursively) or several into ``out_dir``, file by file.

    Each patient gets the pseudonym ANONYMOUS^<code>, the code derived from the patient's ID
    with the site's key (the same patient gets the same code in every run).
    """
    keys = deid_keys(ctx)
    results: list[DeidResult] = []
    written: dict[Path, str] = {}
    for path in _files(inputs):
        try:
            if not is_probably_dicom(path):
                raise QaMeetingError(
                    "This is not a DICOM file.", "Only DICOM loops can be de-identified."
                )
            pseudonym, stem = engine.output_identity(path, keys, PSEUDONYM_PREFIX)
            dst = out_dir / f"{stem}.dcm"
            if dst in written:
                raise QaMeetingError(
                    f"This is the same instance as {written[dst]}, already de-identified.",
                    "Nothing to do: the first copy was written.",
                )
            report = deidentify_file(ctx, path, dst, pseudonym=pseudonym, mask=mask)
        except QaMeetingError as exc:
            needs_mask = isinstance(exc, NeedsMaskError)
            blocked = DeidResult(str(path), "blocked", reason=exc.message, remedy=exc.remedy)
            results.append(replace(blocked, needs_mask=needs_mask))
            continue
        written[dst] = str(path)
        results.append(DeidResult(str(path), "done", output=str(dst), report=report))
    return results


def identifying_strings(path: Path) -> set[str]:
    """The original identifiers of the DICOM file at ``path``, for the package verifier.

    Names (whole, in either order), IDs, dates (as stored and as commonly printed), UIDs,
    institution, accession, operator and every other text the Basic Profile removes, nested
    sequences and private attributes included. Keep the result in memory only.
    """
    return engine.identifying_strings(path)


def deid_keys(ctx: AppContext) -> DeidKeys:
    """The keys of this site: the ``deid_secret`` setting, else the secret file."""
    configured = ctx.settings.deid_secret
    if configured:
        if len(configured) < 16:
            raise ConfigurationError(
                "QA_MEETING_DEID_SECRET is shorter than 16 characters.",
                "Set it to a long random value (e.g. the output of `openssl rand -hex 32`), "
                "or leave it empty to use a generated key file.",
            )
        return DeidKeys(configured.encode("utf-8"))
    return DeidKeys(_stored_secret(ctx.settings.data_dir / SECRET_FILE))


def _stored_secret(path: Path) -> bytes:
    """Read the key file, creating it (0600, complete before it appears) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            os.fchmod(handle, 0o600)
            os.write(handle, secrets.token_hex(32).encode("ascii"))
            os.fsync(handle)
            os.close(handle)
            os.link(temporary, path)  # fails if another process made it first: use theirs
        except FileExistsError:
            pass
        finally:
            Path(temporary).unlink(missing_ok=True)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ConfigurationError(
            f"The de-identification key file {path} can be read by other users.",
            f"Run `chmod 600 {path}` (and check who may have copied it).",
        )
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise ConfigurationError(
            f"The de-identification key file {path} is too short to be a key.",
            "Restore it from the backup (new keys give new UIDs and date shifts), or delete "
            "it to start a new one.",
        )
    return secret


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _files(inputs: Path | Sequence[Path]) -> Iterator[Path]:
    for item in [inputs] if isinstance(inputs, Path) else inputs:
        if item.is_dir():
            found = (p for p in item.rglob("*") if p.is_file() and not p.name.startswith("."))
            yield from sorted(found)
        else:
            yield item
