"""The demo: accounts, every case loaded with its expected category, idempotence, bad files."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.errors import ConfigurationError
from qa_meeting.services import demo
from qa_meeting.services.context import AppContext
from qa_meeting.services.demo_cases import DEMO_ACCOUNTS, DemoCase, load_cases
from qa_meeting.services.protocols import load_protocols
from qa_meeting.services.users import authenticate
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ReadKind

CASES = load_cases(demo.CASES_DIR, load_protocols())
FIRST_CASE = sorted(demo.CASES_DIR.glob("*.toml"))[0]


def _counts(ctx: AppContext) -> tuple[int, int]:
    with transaction(ctx.engine) as session:
        return repository.count_studies(session=session), repository.count_users(session=session)


def _one_case_folder(tmp_path: Path, text: str | None = None) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    target = folder / FIRST_CASE.name
    if text is None:
        shutil.copy(FIRST_CASE, target)
    else:
        target.write_text(text, encoding="utf-8")
    return folder


def _check_case_loaded(ctx: AppContext, case: DemoCase) -> str | None:
    """Assert the stored study matches its case file; return its discordance category."""
    with transaction(ctx.engine) as session:
        study = repository.get_study_by_demo_case(session=session, demo_case=case.id)
        assert study is not None and study.id is not None, case.id
        operator = repository.get_user(session=session, user_id=study.operator_id or 0)
        trainee = repository.get_read(session=session, study_id=study.id, kind=ReadKind.TRAINEE)
        expert = repository.get_read(session=session, study_id=study.id, kind=ReadKind.EXPERT)
        clips = repository.list_clips(session=session, study_id=study.id)
    category = case.expected_category.value if case.expected_category else None
    assert study.discordance == category, case.source
    assert study.protocol_id == case.protocol_id
    assert operator is not None and operator.username == case.operator
    assert (study.age_band, study.sex, study.indication) == (
        case.age_band,
        case.sex,
        case.indication,
    )
    assert (study.flagged_interesting, study.flagged_good_spot) == (
        case.interesting,
        case.good_spot,
    )
    assert study.scanned_on == date.today() - timedelta(days=case.scanned_days_ago)
    assert trainee is not None and dict(trainee.answers) == dict(case.trainee.answers)
    if case.expert is None:  # loaded awaiting its over-read
        assert expert is None and study.status == "awaiting_overread", case.source
    else:
        assert expert is not None and expert.reasoning == case.expert.reasoning
    if expert is not None and case.overread_days_after_scan is not None:
        at = expert.created_at
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        local = at.astimezone(ZoneInfo(ctx.settings.timezone)).date()
        assert local == study.scanned_on + timedelta(days=case.overread_days_after_scan)
    assert len(clips) == 1
    assert clips[0].number_of_frames == case.cine.frames
    assert clips[0].frame_time_ms == pytest.approx(case.cine.frame_time_ms, abs=0.01)
    return study.discordance


def test_the_cases_cover_every_category_flag_and_several_protocols() -> None:
    categories = {case.expected_category.value for case in CASES if case.expected_category}
    flags = {"interesting" for c in CASES if c.interesting} | {
        "good_spot" for c in CASES if c.good_spot
    }
    assert categories | flags >= {*(c.value for c in StudyCategory), "interesting", "good_spot"}
    assert sum(c.expected_category is StudyCategory.DISCORDANT_MAJOR for c in CASES) >= 3
    assert any(c.expert is None for c in CASES), "a case awaiting its over-read (ward round)"
    assert len({c.protocol_id for c in CASES}) >= 3
    assert len(CASES) >= 12
    frame_rates = {round(1000 / c.cine.frame_time_ms) for c in CASES}
    assert min(frame_rates) <= 25 and max(frame_rates) >= 50


def test_load_creates_the_accounts_and_every_case_with_its_category(any_ctx: AppContext) -> None:
    report = demo.load_demo(any_ctx)

    assert report.accounts_created == len(DEMO_ACCOUNTS)
    assert report.cases_loaded == report.clips_stored == len(CASES)
    with transaction(any_ctx.engine) as session:
        for account in DEMO_ACCOUNTS:
            user = repository.get_user_by_username(session=session, username=account.username)
            assert user is not None and user.role == account.role.value
    categories = {_check_case_loaded(any_ctx, case) for case in CASES}
    assert categories - {None} == {c.value for c in StudyCategory}
    assert f"{len(CASES)} case(s) loaded" in report.summary()
    assert demo.DEFAULT_DEMO_PASSWORD in report.summary()


def test_a_second_load_adds_nothing(ctx: AppContext) -> None:
    demo.load_demo(ctx)
    before = _counts(ctx)

    again = demo.load_demo(ctx)

    assert (again.accounts_created, again.cases_loaded, again.clips_stored) == (0, 0, 0)
    assert again.cases_already_loaded == len(CASES)
    assert _counts(ctx) == before


def test_only_if_empty_loads_into_an_empty_database_and_skips_when_scans_exist(
    ctx: AppContext, tmp_path: Path
) -> None:
    first = demo.load_demo(ctx, only_if_empty=True, cases_dir=_one_case_folder(tmp_path))
    assert first.cases_loaded == 1
    before = _counts(ctx)

    skipped = demo.load_demo(ctx, only_if_empty=True)

    assert skipped.skipped_not_empty and skipped.cases_loaded == 0
    assert "not loaded" in skipped.summary()
    assert _counts(ctx) == before


def test_the_demo_password_setting_is_used(ctx: AppContext, tmp_path: Path) -> None:
    custom = replace(ctx, settings=replace(ctx.settings, demo_password="ward-round-2025"))
    report = demo.load_demo(custom, cases_dir=_one_case_folder(tmp_path))

    assert authenticate(ctx, "expert1", "ward-round-2025").role == "expert"
    assert "QA_MEETING_DEMO_PASSWORD" in report.summary()


BROKEN = [
    # (what to replace in the first case file, with what, the field the message must name)
    (r'lv_impaired = "no"', 'lv_impaired = "maybe"', "trainee.answers.lv_impaired"),
    (r'age_band = "[^"]+"', 'age_band = "sixty"', "context.age_band"),
    (r'scene = "[^"]+"', 'scene = "cardiac_m_mode"', "cine.scene"),
    (r"frames_per_second = \d+", "frames_per_second = 500", "cine.frames_per_second"),
    (r"frames = \d+", "frames = 0", "cine.frames"),
    (r"lv_function = [\d.]+", "lv_function = 2.5", "cine.lv_function"),
    (r'operator = "[^"]+"', 'operator = "expert1"', "operator"),
    (r"scanned_days_ago = \d+", 'scanned_days_ago = "last week"', "scanned_days_ago"),
    (r'expected_category = "[^"]+"', 'expected_category = "concordant"', "expected_category"),
    (r'confidence = "high"', 'confidence = "certain"', "expert.confidence"),
    (r"image_quality = 4\nconfidence", "image_quality = 7\nconfidence", "image_quality"),
    (r"\[flags\]", "[flags]\nboring = true", "flags.boring"),
    (r'views_obtained = \["plax"', 'views_obtained = ["apical_two"', "views_obtained"),
    (r'protocol = "[^"]+"', 'protocol = "cardiac_mri"', "protocol"),
    (r"\[context\]", "[clinical]", "clinical is not a known field"),
    # The first case is scanned 5 days ago: an over-read 6 days after would be tomorrow.
    (r"overread_days_after_scan = \d+", "overread_days_after_scan = 6", "in the future"),
    (r"overread_days_after_scan = \d+", "overread_days_after_scan = -1", "overread_days_after"),
    (r'title = "[^"]+"\n', "", "title is missing"),
    # A plain key after [context] belongs to that table, so the message names context.flags.
    (r"\[flags\]\n.*\n.*\n", 'flags = "none"\n', "context.flags is not a known field"),
]


@pytest.mark.parametrize(("pattern", "replacement", "field"), BROKEN)
def test_a_malformed_case_file_is_refused_naming_the_file_and_field(
    ctx: AppContext, tmp_path: Path, pattern: str, replacement: str, field: str
) -> None:
    original = FIRST_CASE.read_text(encoding="utf-8")
    broken, replaced = re.subn(pattern, replacement, original, count=1)
    assert replaced == 1, pattern

    with pytest.raises(ConfigurationError) as caught:
        demo.load_demo(ctx, cases_dir=_one_case_folder(tmp_path, broken))

    assert FIRST_CASE.name in caught.value.message
    assert field in caught.value.message
    assert _counts(ctx) == (0, 0), "nothing is written before every file is valid"


def test_an_over_read_delay_needs_an_over_read(ctx: AppContext, tmp_path: Path) -> None:
    awaiting = next(
        path for path in sorted(demo.CASES_DIR.glob("*.toml")) if "awaiting" in path.name
    )
    text = re.sub(
        r"(scanned_days_ago = \d+)", r"\1\noverread_days_after_scan = 0", awaiting.read_text()
    )
    with pytest.raises(ConfigurationError, match="needs an \\[expert\\] over-read"):
        demo.load_demo(ctx, cases_dir=_one_case_folder(tmp_path, text))


def test_the_demo_scans_span_weeks_with_dated_over_reads() -> None:
    days = [case.scanned_days_ago for case in CASES]
    assert max(days) >= 70 and min(days) <= 7  # ten weeks and more, for the loop figures
    assert all(c.overread_days_after_scan is not None for c in CASES if c.expert is not None)


def test_invalid_toml_and_an_empty_folder_are_refused(ctx: AppContext, tmp_path: Path) -> None:
    folder = _one_case_folder(tmp_path, 'id = "unterminated\n')
    with pytest.raises(ConfigurationError, match=FIRST_CASE.name):
        demo.load_demo(ctx, cases_dir=folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match=r"no \*\.toml case files"):
        demo.load_demo(ctx, cases_dir=empty)


def test_two_files_with_the_same_id_are_refused(ctx: AppContext, tmp_path: Path) -> None:
    folder = _one_case_folder(tmp_path)
    shutil.copy(FIRST_CASE, folder / "99_copy.toml")
    with pytest.raises(ConfigurationError, match=r"99_copy\.toml: id .* is already used"):
        demo.load_demo(ctx, cases_dir=folder)
