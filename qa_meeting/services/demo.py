"""The demo: accounts and teaching cases that show every part of the app on a fresh install.

``load_demo`` creates the demo accounts (see the README) and loads each case of ``cases/``
(see ``cases/README.md``) the way people would: the trainee's synthetic cine loop is written
and ingested, the trainee records the details and their read, the expert enters the over-read
and the flags, and the review service computes the discordance and the meeting queue. Every
case file is validated before anything is written. The load is idempotent: a case whose study
is already marked with its id is skipped, and the mark is written last, so a load that was
interrupted half-way completes on the next run.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.scans import IngestStatus
from qa_meeting.errors import ConfigurationError
from qa_meeting.imaging.synthetic import CineSpec, write_cine
from qa_meeting.services import audit, review
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.demo_cases import DEMO_ACCOUNTS, DemoAccount, DemoCase, load_cases
from qa_meeting.services.demo_meeting import load_past_meeting
from qa_meeting.services.ingest import ingest_paths
from qa_meeting.services.protocols import load_protocols
from qa_meeting.services.users import MIN_PASSWORD_LENGTH, actor_for, create_user
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ReadKind

DEFAULT_DEMO_PASSWORD = "qa-meeting-demo"
CASES_DIR = Path(__file__).resolve().parents[2] / "cases"
# The DICOM study date of each loop counts back from this fixed day, so the same case file always
# gives the same bytes; the scan date shown in the app counts back from the day of the load.
DICOM_EPOCH = date(2025, 6, 30)
_AGES = {"<16": 12, "16-24": 20, "25-39": 32, "40-59": 50, "60-74": 67, "75+": 81}
_DICOM_SEX = {"female": "F", "male": "M"}
_LOADER = "admin"  # records the study details and marks each case as loaded
_EXPERT = "expert1"


@dataclass(frozen=True)
class DemoReport:
    """What one ``load_demo`` call did."""

    accounts_created: int = 0
    cases_loaded: int = 0
    cases_already_loaded: int = 0
    clips_stored: int = 0
    skipped_not_empty: bool = False
    default_password: bool = True
    past_meeting: bool = False

    def summary(self) -> str:
        """A few lines for the command line."""
        if self.skipped_not_empty:
            return "The database already holds scans, so the demo was not loaded (--if-empty)."
        names = ", ".join(account.username for account in DEMO_ACCOUNTS)
        password = (
            f"the password {DEFAULT_DEMO_PASSWORD!r}"
            if self.default_password
            else "the password set in QA_MEETING_DEMO_PASSWORD"
        )
        return (
            f"Demo: {self.cases_loaded} case(s) loaded ({self.clips_stored} cine loop(s) "
            f"stored), {self.cases_already_loaded} already loaded; "
            f"{self.accounts_created} account(s) created"
            f"{'; one past meeting held' if self.past_meeting else ''}.\n"
            f"Sign in as {names} with {password}."
        )


def _password(ctx: AppContext) -> str:
    password = ctx.settings.demo_password or DEFAULT_DEMO_PASSWORD
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigurationError(
            f"QA_MEETING_DEMO_PASSWORD is shorter than {MIN_PASSWORD_LENGTH} characters.",
            "Set a longer demo password, or clear the setting to use the documented one.",
        )
    return password


def _ensure_accounts(ctx: AppContext, password: str) -> tuple[int, dict[str, Actor]]:
    """Create the missing demo accounts; return how many were created and every demo actor."""
    created = 0
    for account in DEMO_ACCOUNTS:
        if _actor(ctx, account) is None:
            create_user(
                ctx,
                username=account.username,
                display_name=account.display_name,
                role=account.role.value,
                password=password,
            )
            created += 1
    actors: dict[str, Actor] = {}
    for account in DEMO_ACCOUNTS:
        actor = _actor(ctx, account)
        assert actor is not None
        actors[account.username] = actor
    return created, actors


def _actor(ctx: AppContext, account: DemoAccount) -> Actor | None:
    with transaction(ctx.engine) as session:
        user = repository.get_user_by_username(session=session, username=account.username)
    if user is None:
        return None
    if user.role != account.role.value:
        raise ConfigurationError(
            f"The account {account.username!r} exists with the role {user.role!r}, but the demo "
            f"needs it to be {account.role.value!r}.",
            "Load the demo into an empty database, or change that account's role.",
        )
    return actor_for(user)


def _loop_spec(case: DemoCase) -> CineSpec:
    """The case's loop with a fake patient banner; the same case always gives the same bytes."""
    digits = int(hashlib.sha256(case.id.encode()).hexdigest()[:8], 16) % 10**8
    age = _AGES[case.age_band]
    study_day = DICOM_EPOCH - timedelta(days=case.scanned_days_ago)
    operator = next(a.display_name for a in DEMO_ACCOUNTS if a.username == case.operator)
    return replace(
        case.cine,
        patient_name=f"DEMO^CASE{digits % 1000:03d}",
        patient_id=f"DEMO{digits:08d}",
        patient_birth_date=f"{study_day.year - age}{study_day:%m%d}",
        patient_sex=_DICOM_SEX.get(case.sex, "O"),
        patient_age=f"{age:03d}Y",
        study_date=f"{study_day:%Y%m%d}",
        study_description=f"POCUS demo {case.protocol_id}",
        operator_name="^".join(reversed(operator.upper().split()[-2:])),
    )


def _is_loaded(ctx: AppContext, case: DemoCase) -> bool:
    with transaction(ctx.engine) as session:
        return repository.get_study_by_demo_case(session=session, demo_case=case.id) is not None


def _ingest_loop(ctx: AppContext, case: DemoCase, trainee: Actor, folder: Path) -> tuple[int, bool]:
    """Write and ingest the case's loop as its trainee; return the study id and if it is new."""
    path = write_cine(_loop_spec(case), folder / f"{case.id}.dcm")
    try:
        [result] = ingest_paths(ctx, [path], actor=trainee, source="demo")
    finally:
        path.unlink(missing_ok=True)
    if result.status not in (IngestStatus.STORED, IngestStatus.ALREADY_STORED):
        raise ConfigurationError(
            f"{case.source}: the cine loop generated for this case was not stored "
            f"({result.status.value}): {result.reason}",
            "This is a fault in the demo generator or ingest; report it with this message.",
        )
    assert result.study_id is not None
    return result.study_id, result.status is IngestStatus.STORED


def _load_case(
    ctx: AppContext,
    case: DemoCase,
    actors: Mapping[str, Actor],
    protocols: Mapping[str, Protocol],
    folder: Path,
) -> bool:
    """Load one case; return True when its loop was newly stored."""
    trainee, expert, loader = actors[case.operator], actors[_EXPERT], actors[_LOADER]
    study_id, stored = _ingest_loop(ctx, case, trainee, folder)
    details = review.StudyDetails(
        protocol_id=case.protocol_id,
        operator_id=trainee.user_id,
        age_band=case.age_band,
        sex=case.sex,
        indication=case.indication,
    )
    review.update_details(ctx, loader, study_id, details, protocols)
    review.save_read(ctx, trainee, study_id, ReadKind.TRAINEE, case.trainee, protocols)
    if case.expert is not None:  # otherwise the scan waits for its over-read
        review.save_read(ctx, expert, study_id, ReadKind.EXPERT, case.expert, protocols)
    review.set_flags(
        ctx,
        expert,
        study_id,
        interesting=case.interesting,
        good_spot=case.good_spot,
        protocols=protocols,
    )
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
        assert study is not None
        study.scanned_on = date.today() - timedelta(days=case.scanned_days_ago)
        if case.overread_days_after_scan is not None:
            _date_overread(session, ctx, study_id, study.scanned_on, case.overread_days_after_scan)
        study.demo_case = case.id  # written last: marks the case as completely loaded
        repository.save_study(session=session, study=study)
        audit.record(session, loader, "demo.case", target=f"study:{study_id}", detail=case.id)
    return stored


def _date_overread(
    session: Session, ctx: AppContext, study_id: int, scanned_on: date, days_after: int
) -> None:
    """Date the over-read ``days_after`` the scan (midday, department time), for the figures."""
    read = repository.get_read(session=session, study_id=study_id, kind=ReadKind.EXPERT)
    if read is not None:
        day = scanned_on + timedelta(days=days_after)
        read.created_at = datetime.combine(day, time(12), tzinfo=ZoneInfo(ctx.settings.timezone))
        repository.save_read(session=session, read=read)


def _has_scans(ctx: AppContext) -> bool:
    with transaction(ctx.engine) as session:
        return repository.count_studies(session=session) > 0


def load_demo(
    ctx: AppContext, *, only_if_empty: bool = False, cases_dir: Path | None = None
) -> DemoReport:
    """Create the demo accounts and load every demo case not loaded yet.

    ``only_if_empty`` does nothing when any scan exists (``make run`` uses it on every start).
    ``cases_dir`` defaults to the ``cases`` folder of the checkout. Raises
    ``ConfigurationError`` naming the file and field when a case file is malformed (before
    anything is written), and when a demo account exists with another role.
    """
    if only_if_empty and _has_scans(ctx):
        return DemoReport(skipped_not_empty=True)
    protocols = load_protocols(ctx.settings.protocols_dir)
    cases = load_cases(cases_dir or CASES_DIR, protocols)
    created, actors = _ensure_accounts(ctx, _password(ctx))
    loaded = already = stored = 0
    with tempfile.TemporaryDirectory(prefix="qa-meeting-demo-") as folder:
        for case in cases:
            if _is_loaded(ctx, case):
                already += 1
                continue
            stored += _load_case(ctx, case, actors, protocols, Path(folder))
            loaded += 1
    meeting_file = (cases_dir or CASES_DIR) / "meetings" / "past_meeting.toml"
    held = meeting_file.is_file() and load_past_meeting(ctx, meeting_file, actors)
    return DemoReport(
        accounts_created=created,
        cases_loaded=loaded,
        cases_already_loaded=already,
        clips_stored=stored,
        default_password=not ctx.settings.demo_password,
        past_meeting=held,
    )
