"""SQLModel tables.

Table models do not validate on construction (sqlmodel issues 134 and 453): inputs are validated
by the domain and the services before rows are built. JSON columns hold small structured values
(answers, views, tags) whose shape the domain owns.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (SQLModel stores aware datetimes as UTC)."""
    return datetime.now(UTC)


class Role(StrEnum):
    TRAINEE = "trainee"
    EXPERT = "expert"
    CHAIR = "chair"
    ADMIN = "admin"


class ReadKind(StrEnum):
    TRAINEE = "trainee"
    EXPERT = "expert"


class StudyStatus(StrEnum):
    AWAITING_READ = "awaiting_read"
    AWAITING_OVERREAD = "awaiting_overread"
    REVIEWED = "reviewed"


class NominationStatus(StrEnum):
    QUEUED = "queued"
    PINNED = "pinned"
    PRESENTED = "presented"
    DISMISSED = "dismissed"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=80)
    display_name: str = Field(max_length=200)
    email: str | None = Field(default=None, index=True, max_length=320)
    role: str = Field(max_length=20)
    password_hash: str | None = Field(default=None, max_length=200)
    pseudonym: str = Field(unique=True, max_length=40)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Study(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, unique=True, max_length=64)
    protocol_id: str | None = Field(default=None, index=True, max_length=64)
    operator_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    scanned_on: date | None = None
    manufacturer: str = Field(default="", max_length=200)
    model_name: str = Field(default="", max_length=200)
    age_band: str = Field(default="", max_length=20)
    sex: str = Field(default="", max_length=10)
    indication: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default=StudyStatus.AWAITING_READ.value, index=True, max_length=30)
    discordance: str | None = Field(default=None, index=True, max_length=40)
    flagged_interesting: bool = False
    flagged_good_spot: bool = False
    demo_case: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Clip(SQLModel, table=True):
    """One stored DICOM instance (a cine loop or a still)."""

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    sop_instance_uid: str = Field(index=True, unique=True, max_length=64)
    series_instance_uid: str = Field(default="", max_length=64)
    sop_class_uid: str = Field(default="", max_length=64)
    sha256: str = Field(index=True, max_length=64)
    size_bytes: int
    rows: int
    columns: int
    number_of_frames: int
    samples_per_pixel: int = 1
    bits_allocated: int = 8
    photometric_interpretation: str = Field(default="", max_length=20)
    transfer_syntax_uid: str = Field(default="", max_length=64)
    frame_time_ms: float | None = None
    has_ultrasound_regions: bool = False
    container: str = Field(default="dicom", max_length=10)  # dicom, or a video format (mp4...)
    view: str | None = Field(default=None, max_length=64)
    source: str = Field(default="folder", max_length=20)
    original_name: str = Field(default="", max_length=255)
    ingested_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Read(SQLModel, table=True):
    """A structured interpretation: the trainee's read or the expert over-read."""

    __table_args__ = (UniqueConstraint("study_id", "kind", name="uq_read_study_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    reader_id: int = Field(foreign_key="user.id", index=True)
    kind: str = Field(max_length=10)
    protocol_id: str = Field(max_length=64)
    answers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    views_obtained: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    missing_view_reasons: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    image_quality: int | None = None
    confidence: str = Field(default="", max_length=20)
    reasoning: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Nomination(SQLModel, table=True):
    """A study queued for a QA meeting."""

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, unique=True)
    reason: str = Field(max_length=40)
    source: str = Field(default="auto", max_length=10)
    status: str = Field(default=NominationStatus.QUEUED.value, index=True, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MeetingStatus(StrEnum):
    PLANNED = "planned"
    LIVE = "live"
    CLOSED = "closed"


class ItemOutcome(StrEnum):
    PENDING = "pending"
    PRESENTED = "presented"
    DEFERRED = "deferred"


class Meeting(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    held_on: date = Field(index=True)
    chair_id: int | None = Field(default=None, foreign_key="user.id")
    slot_minutes: int = 60
    status: str = Field(default=MeetingStatus.PLANNED.value, index=True, max_length=20)
    # What the room sees now: the follow pages poll these two.
    current_item_id: int | None = None
    current_step: int = 0
    started_at: datetime | None = None
    closed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Attendance(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("meeting_id", "user_id", name="uq_attendance"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    source: str = Field(default="follow", max_length=10)  # follow page, or marked by the chair
    joined_at: datetime = Field(default_factory=utcnow)


class AgendaItem(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("meeting_id", "study_id", name="uq_agenda_meeting_study"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    position: int
    planned_minutes: int = 5
    reason: str = Field(default="", max_length=300)
    nomination_reason: str = Field(default="", max_length=40)
    outcome: str = Field(default=ItemOutcome.PENDING.value, max_length=20)
    trainee_label: str = Field(default="", max_length=20)  # "Trainee A", stable in the meeting
    started_at: datetime | None = None
    ended_at: datetime | None = None
    consensus_category: str | None = Field(default=None, max_length=40)
    error_stage: str | None = Field(default=None, max_length=40)
    remedial_action: str | None = Field(default=None, max_length=40)
    bias_tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    approved_for_bank: bool = False


class AudienceResponse(SQLModel, table=True):
    """A trainee's committed answers to the protocol questions, before the reveal."""

    __table_args__ = (UniqueConstraint("agenda_item_id", "user_id", name="uq_response"),)

    id: int | None = Field(default=None, primary_key=True)
    agenda_item_id: int = Field(foreign_key="agendaitem.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    answers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    committed_at: datetime = Field(default_factory=utcnow)


class TeachingPoint(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="user.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    category: str = Field(max_length=40)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    frame_index: int | None = None
    annotation_id: int | None = Field(default=None, foreign_key="annotation.id")
    created_at: datetime = Field(default_factory=utcnow)


class ExportStatus(StrEnum):
    BLOCKED = "blocked"  # free text with identifiers, or a clip that needs a mask
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # cleaned; a person must check the frames
    PUBLISHED = "published"
    FAILED = "failed"


class Export(SQLModel, table=True):
    """One teaching case on its way to the image bank."""

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id")
    package_id: str = Field(default="", max_length=64, index=True)
    status: str = Field(default=ExportStatus.BLOCKED.value, max_length=30)
    package_path: str = Field(default="", max_length=1000)
    staging_path: str = Field(default="", max_length=1000)
    requested_by: int | None = Field(default=None, foreign_key="user.id")
    confirmed_by: int | None = Field(default=None, foreign_key="user.id")
    text_override_by: int | None = Field(default=None, foreign_key="user.id")
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None


class BankCase(SQLModel, table=True):
    """A teaching case in the image bank: exported here or imported from another site."""

    id: int | None = Field(default=None, primary_key=True)
    package_id: str = Field(max_length=64, unique=True)
    source: str = Field(default="local", max_length=200)
    title: str = Field(default="", max_length=300)
    protocol_id: str = Field(max_length=64, index=True)
    views: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    findings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    image_quality: int | None = None
    level: str = Field(default="intermediate", max_length=20)
    discordance: str | None = Field(default=None, max_length=40)
    manifest: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    package_path: str = Field(max_length=1000)
    added_at: datetime = Field(default_factory=utcnow)


class BankAttempt(SQLModel, table=True):
    """A trainee's self-test answers on a bank case, and the score against the expert."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="bankcase.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    answers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    correct: int = 0
    total: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """Who did what, when, and how it ended. Never holds patient identifiers."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    username: str = Field(default="", max_length=80)
    action: str = Field(max_length=60, index=True)
    target: str = Field(default="", max_length=200)
    outcome: str = Field(default="ok", max_length=20)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Annotation(SQLModel, table=True):
    """An expert's mark on one frame of a clip (arrow, ellipse, line or text)."""

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clip.id", index=True)
    frame_index: int
    kind: str = Field(max_length=10)
    points: list[list[float]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    label: str = Field(default="", max_length=200)
    author_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
