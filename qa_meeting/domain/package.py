"""The teaching-case package manifest: schema, JSON form, checksum format and validation.

A package is a folder (zipped for transfer) holding ``manifest.json`` and the files it lists::

    dicom/clip-1.dcm                    de-identified instances
    video/clip-1.mp4                    browser-playable loop made from the cleaned pixels
    keyframes/clip-1-frame-0012.png     key frames (0-based frame index), cleaned pixels
    kos/tce.dcm                         IHE TCE Key Object Selection "For Teaching File Export"

File names never derive from an identifier. ``checksums`` maps every file except the manifest
to ``"sha256:<64 lowercase hex>"``; ``manifest_checksum`` is the same digest of the manifest's
canonical JSON without that field, so an edited manifest is noticed too (an integrity check
against accidents and naive edits, not a signature). Pure: no file is read here.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from qa_meeting.domain.reads import MAX_IMAGE_QUALITY, MIN_IMAGE_QUALITY, Confidence
from qa_meeting.errors import QaMeetingError, ValidationError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
KOS_PATH = "kos/tce.dcm"
CHECKSUM_PREFIX = "sha256:"
PACKAGE_FOLDERS = ("dicom", "video", "keyframes", "kos")
_CLIP_NAME = re.compile(r"clip-[1-9][0-9]{0,3}")
_CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")
_FILE_PATH = re.compile(r"(dicom|video|keyframes|kos)/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class PackageFormatError(ValidationError):
    """A manifest that is not valid JSON of this schema."""

    default_remedy = "Export the case again at the sending site, or ask for a fresh package."


class PackageIntegrityError(QaMeetingError):
    """A package whose files no longer match what was exported."""

    default_remedy = "Do not use this package; ask the sending site to export the case again."


class Level(StrEnum):
    """IHE TCE teaching-file level (TCE110): primary, intermediate or advanced."""

    PRIMARY = "primary"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


@dataclass(frozen=True)
class ClinicalContext:
    """What the audience may know of the patient: never a name, date or number."""

    age_band: str = ""
    sex: str = ""
    indication: str = ""


@dataclass(frozen=True)
class QuestionRecord:
    """One protocol question with the trainee's and the expert's answers (value and label)."""

    question_id: str
    text: str
    trainee_answer: str | None
    trainee_answer_label: str
    expert_answer: str | None
    expert_answer_label: str


@dataclass(frozen=True)
class TeachingPointRecord:
    text: str
    category: str
    tags: tuple[str, ...] = ()
    frame: int | None = None  # 0-based frame index in ``clip``
    clip: str | None = None  # e.g. "clip-1"


@dataclass(frozen=True)
class TeachingCase:
    """The teaching content of one case, de-identified."""

    protocol_id: str
    protocol_name: str
    title: str
    level: Level
    views: tuple[str, ...] = ()
    questions: tuple[QuestionRecord, ...] = ()
    expert_reasoning: str = ""
    teaching_points: tuple[TeachingPointRecord, ...] = ()
    tags: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    diagnosis: str = ""
    image_quality: int | None = None
    discordance: str | None = None
    diagnostic_confidence: str | None = None  # a ``reads.Confidence`` value
    clinical_context: ClinicalContext = ClinicalContext()


@dataclass(frozen=True)
class KeyFrameRecord:
    frame_index: int  # 0-based
    path: str


@dataclass(frozen=True)
class ClipRecord:
    name: str  # "clip-1"
    view: str | None
    dicom: str
    video: str
    key_frames: tuple[KeyFrameRecord, ...]
    number_of_frames: int
    sop_instance_uid: str  # the de-identified instance's UID, as the KOS references it


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    package_id: str
    created_at: datetime
    app_version: str
    case: TeachingCase
    clips: tuple[ClipRecord, ...]
    kos: str
    checksums: Mapping[str, str]


def clip_name(number: int) -> str:
    """ "clip-1", "clip-2", ...: the only stem package files are named with."""
    return f"clip-{number}"


def key_frame_path(clip: str, frame_index: int) -> str:
    return f"keyframes/{clip}-frame-{frame_index:04d}.png"


def choose_key_frames(requested: tuple[int, ...], number_of_frames: int) -> tuple[int, ...]:
    """The annotated and teaching-point frames that exist, in order; else the middle frame."""
    valid = sorted({i for i in requested if 0 <= i < number_of_frames})
    return tuple(valid) if valid else (number_of_frames // 2,)


def format_checksum(hexdigest: str) -> str:
    return CHECKSUM_PREFIX + hexdigest.lower()


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    data = asdict(manifest)
    data["created_at"] = manifest.created_at.isoformat()
    data["checksums"] = dict(sorted(manifest.checksums.items()))
    data["manifest_checksum"] = _self_checksum(data)
    return data


def manifest_to_json(manifest: Manifest) -> str:
    """Readable JSON (sorted keys, two-space indent, UTF-8 text) ending with a newline."""
    return (
        json.dumps(manifest_to_dict(manifest), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def manifest_from_json(text: str) -> Manifest:
    """Parse and validate; raises ``PackageFormatError`` naming the field, or
    ``PackageIntegrityError`` when the manifest was edited after export.

    Tolerant of keys it does not know (a later minor change may add some), strict on the rest.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackageFormatError(f"{MANIFEST_NAME} is not valid JSON ({exc.msg}).") from None
    if not isinstance(data, dict):
        raise PackageFormatError(f"{MANIFEST_NAME} must hold a JSON object.")
    version = _decode(int, data.get("schema_version"), "manifest.schema_version")
    if version != SCHEMA_VERSION:
        raise PackageFormatError(
            f"The package has schema version {version}; this app reads version {SCHEMA_VERSION}.",
            "Update QA Meeting to the sending site's version."
            if version > SCHEMA_VERSION
            else "Ask the sending site to export the case again.",
        )
    if data.get("manifest_checksum") != _self_checksum(data):
        raise PackageIntegrityError(
            f"{MANIFEST_NAME} does not match its checksum: the package was changed after export."
        )
    manifest: Manifest = _decode(Manifest, data, "manifest")
    validate_manifest(manifest)
    return manifest


def validate_manifest(m: Manifest) -> None:
    """Refuse values the schema does not allow, naming the field (``PackageFormatError``)."""
    _require(_is_uuid4(m.package_id), "manifest.package_id", "a lower-case UUID4")
    _require(m.created_at.tzinfo is not None, "manifest.created_at", "a time with a time zone")
    _require(bool(m.clips), "manifest.clips", "a list of at least one clip")
    for path, value in m.checksums.items():
        _require(_is_file_path(path), f"manifest.checksums.{path}", "a package file name")
        _require(bool(_CHECKSUM.fullmatch(value)), f"manifest.checksums.{path}", _CHECKSUM_WORDS)
    listed = [("manifest.kos", m.kos)]
    for i, clip in enumerate(m.clips):
        at = f"manifest.clips[{i}]"
        _require(bool(_CLIP_NAME.fullmatch(clip.name)), f"{at}.name", 'a name like "clip-1"')
        _require(clip.number_of_frames >= 1, f"{at}.number_of_frames", "at least 1")
        listed += [(f"{at}.dicom", clip.dicom), (f"{at}.video", clip.video)]
        for j, key in enumerate(clip.key_frames):
            frames = clip.number_of_frames
            _require(0 <= key.frame_index < frames, f"{at}.key_frames[{j}].frame_index", "a frame")
            listed.append((f"{at}.key_frames[{j}].path", key.path))
    for field_path, path in listed:
        _require(_is_file_path(path), field_path, "a file inside dicom/, video/, keyframes/, kos/")
        _require(path in m.checksums, field_path, "a file listed in manifest.checksums")
    case = m.case
    quality = case.image_quality
    _require(
        quality is None or MIN_IMAGE_QUALITY <= quality <= MAX_IMAGE_QUALITY,
        "manifest.case.image_quality",
        f"from {MIN_IMAGE_QUALITY} to {MAX_IMAGE_QUALITY}, or null",
    )
    _require(
        case.diagnostic_confidence in (None, *Confidence),
        "manifest.case.diagnostic_confidence",
        "one of " + ", ".join(Confidence) + ", or null",
    )
    for i, point in enumerate(case.teaching_points):
        frame_ok = point.frame is None or point.frame >= 0
        _require(frame_ok, f"manifest.case.teaching_points[{i}].frame", "0 or more, or null")


_CHECKSUM_WORDS = '"sha256:" and 64 lower-case hex digits'


def _require(ok: bool, field_path: str, expected: str) -> None:
    if not ok:
        raise PackageFormatError(f"Manifest field {field_path} must be {expected}.")


def _is_uuid4(value: str) -> bool:
    try:
        return str(uuid.UUID(value, version=4)) == value
    except ValueError:
        return False


def _is_file_path(path: str) -> bool:
    return bool(_FILE_PATH.fullmatch(path)) and ".." not in path


def _self_checksum(data: Mapping[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "manifest_checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return format_checksum(hashlib.sha256(canonical.encode("utf-8")).hexdigest())


def _decode(tp: Any, value: Any, path: str) -> Any:
    """Build ``tp`` (a dataclass, enum, tuple, mapping, optional or scalar) from JSON data."""
    origin = get_origin(tp)
    if origin in (Union, UnionType):
        inner = next(a for a in get_args(tp) if a is not type(None))
        return None if value is None else _decode(inner, value, path)
    if origin is tuple:
        _require(isinstance(value, list), path, "a list")
        item = get_args(tp)[0]
        return tuple(_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        _require(isinstance(value, dict), path, "an object")
        return {k: _decode(str, v, f"{path}.{k}") for k, v in value.items()}
    if is_dataclass(tp) and isinstance(tp, type):
        _require(isinstance(value, dict), path, "an object")
        hints = get_type_hints(tp)
        values = {}
        for f in fields(tp):
            if f.name not in value:
                raise PackageFormatError(f"Manifest field {path}.{f.name} is missing.")
            values[f.name] = _decode(hints[f.name], value[f.name], f"{path}.{f.name}")
        return tp(**values)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        _require(value in set(tp), path, "one of " + ", ".join(tp))
        return tp(value)
    if tp is datetime:
        _require(isinstance(value, str), path, "an ISO 8601 time")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise PackageFormatError(f"Manifest field {path} must be an ISO 8601 time.") from None
    if tp is int:
        _require(isinstance(value, int) and not isinstance(value, bool), path, "a number")
        return value
    _require(isinstance(value, str), path, "text")
    return value
