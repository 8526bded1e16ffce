"""The demo meeting's digest as HTML and PDF, who may build it, and a trainee's own digest."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pypdf
import pytest

from qa_meeting.domain.digest import Digest, DigestCase, DigestLeakError
from qa_meeting.errors import NotFoundError, ValidationError
from qa_meeting.services import digest, meetings
from qa_meeting.services.context import AppContext
from qa_meeting.services.digest_html import render_html
from qa_meeting.services.digest_pdf import render_pdf
from qa_meeting.services.meetings import PlannedCase
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from tests.conftest import actor_named

DEMO_MEETING = 1


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _demo_points(ctx: AppContext) -> list[str]:
    with transaction(ctx.engine) as session:
        points = repository.list_teaching_points(session=session, meeting_id=DEMO_MEETING)
        return [p.text for p in points]


def test_the_demo_meeting_digest_in_html_and_pdf(demo_ctx: AppContext, tmp_path: Path) -> None:
    built = digest.meeting_digest(demo_ctx, actor_named(demo_ctx, "trainee3"), DEMO_MEETING)
    assert [c.title for c in built.cases] == [f"Case {n}: FUSIC Heart" for n in (1, 2, 3)]
    assert built.redactions == 0 and built.figures is not None
    figures = built.figures
    assert (figures.presented, figures.deferred, figures.attended) == (3, 1, 5)
    assert dict(figures.attendance) == {"Chair": 1, "Expert": 1, "Trainee": 3}
    assert dict(figures.discordance) == {
        "Concordant": 1, "Discordant (major)": 1, "Discordant (minor)": 1,
    }  # fmt: skip
    assert figures.protocols == 1 and figures.cells >= 3
    assert [c.title for c in built.good_spots] == ["Case 1: FUSIC Heart"]
    assert all(c.operator in {"Trainee A", "Trainee B"} for c in built.cases)
    assert all(1 <= len(c.frames) <= 2 and all(f.shown for f in c.frames) for c in built.cases)
    assert all(c.answers and c.reasoning for c in built.cases)

    html_path, pdf_path = digest.write_digest(built, tmp_path / "out")
    assert (html_path.name, pdf_path.name) == ("digest.html", "digest.pdf")
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["digest.html", "digest.pdf"]
    page = html_path.read_text(encoding="utf-8")
    text = _flat(re.sub(r"<[^>]+>", " ", page))
    for point in _demo_points(demo_ctx):
        assert _flat(point) in text
    for heading in ("Good spots", "The meeting in figures", "The expert's answers", "Variety"):
        assert heading in page
    assert "3 presented, 1 deferred" in text and "Discordant (major): 1" in text
    assert "Trainee A" in text and "Female, age 60-74" in text
    assert len(re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+"', page)) == 3
    assert not re.search(r"https?://", page) and "<script" not in page.lower()
    assert "<link" not in page.lower() and "@import" not in page

    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    extracted = pdf_text(data)
    for case in built.cases:
        assert case.title in extracted
    for point in _demo_points(demo_ctx):
        assert _flat(point) in extracted
    assert "Good spots" in extracted and "The meeting in figures" in extracted
    assert any(page.images for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_names_of_staff_and_patients_never_reach_the_demo_digest(demo_ctx: AppContext) -> None:
    built = digest.meeting_digest(demo_ctx, actor_named(demo_ctx, "chair1"), DEMO_MEETING)
    page, extracted = render_html(built), pdf_text(render_pdf(built))
    with transaction(demo_ctx.engine) as session:
        people = list(repository.list_users(session=session))
    for user in people:
        for value in (user.display_name, user.username, user.pseudonym):
            assert value.lower() not in page.lower(), value
            assert value.lower() not in extracted.lower(), value
    assert "DEMO^CASE" not in page and "DA2488" not in page  # header names and codes


def test_the_operators_usernames_are_among_the_forbidden_terms(demo_ctx: AppContext) -> None:
    built = digest.meeting_digest(demo_ctx, actor_named(demo_ctx, "chair1"), DEMO_MEETING)
    with transaction(demo_ctx.engine) as session:
        items = repository.list_agenda_items(session=session, meeting_id=DEMO_MEETING)
        presented = [i.study_id for i in items if i.outcome == "presented"]
        studies = repository.studies_by_id(session=session, study_ids=presented)
        operators = {s.operator_id for s in studies.values()}
        usernames = {u.id: u.username for u in repository.list_users(session=session)}
    assert operators and None not in operators
    for user_id, username in usernames.items():
        assert (username in built.forbidden) is (user_id in operators), username


def test_only_a_closed_meeting_has_a_digest(demo_ctx: AppContext) -> None:
    chair, trainee = actor_named(demo_ctx, "chair1"), actor_named(demo_ctx, "trainee1")
    with pytest.raises(NotFoundError, match="Meeting 999 was not found") as missing:
        digest.meeting_digest(demo_ctx, trainee, 999)
    assert "meetings list" in missing.value.remedy
    with transaction(demo_ctx.engine) as session:
        study = repository.get_study_by_demo_case(
            session=session, demo_case="dvt_normal_postpartum"
        )
        assert study is not None and study.id is not None
    planned = meetings.create_meeting(
        demo_ctx, chair, held_on=date(2026, 12, 1), slot_minutes=30,
        agenda=[PlannedCase(study.id, 5, "test")],
    )  # fmt: skip
    with pytest.raises(ValidationError, match="not closed") as refused:
        digest.meeting_digest(demo_ctx, chair, planned)
    assert "closes the meeting" in refused.value.remedy
    meetings.start_meeting(demo_ctx, chair, planned)
    with pytest.raises(ValidationError, match="is live"):
        digest.meeting_digest(demo_ctx, trainee, planned)
    assert [m.id for m in digest.digest_meetings(demo_ctx, trainee)] == [DEMO_MEETING]
    meetings.close_meeting(demo_ctx, chair, planned)
    newest_first = digest.digest_meetings(demo_ctx, trainee)
    assert [m.id for m in newest_first] == [planned, DEMO_MEETING]
    empty = digest.meeting_digest(demo_ctx, trainee, planned)
    assert empty.cases == () and "No case was presented" in render_html(empty)
    assert empty.figures is not None and empty.figures.deferred == 1


@pytest.mark.parametrize(
    ("username", "cases"), [("trainee2", 2), ("trainee1", 1), ("trainee3", 0), ("expert1", 0)]
)
def test_a_personal_digest_holds_only_the_actors_own_presented_scans(
    demo_ctx: AppContext, username: str, cases: int
) -> None:
    actor = actor_named(demo_ctx, username)
    mine = digest.personal_digest(demo_ctx, actor)
    assert len(mine.cases) == cases and mine.figures is None
    with transaction(demo_ctx.engine) as session:
        items = repository.list_agenda_items(session=session, meeting_id=DEMO_MEETING)
        studies = repository.studies_by_id(session=session, study_ids=[i.study_id for i in items])
    own = [i for i in items if i.outcome == "presented"]
    own = [i for i in own if studies[i.study_id].operator_id == actor.user_id]
    assert len(own) == cases
    page = render_html(mine)
    assert all(c.operator == "You" for c in mine.cases)
    assert "Trainee A" not in page and "Trainee B" not in page
    if not cases:
        assert mine.empty_note == digest.NO_CASES and digest.NO_CASES in page
        assert pdf_text(render_pdf(mine)).count("None of your scans") == 1
    else:
        assert all(c.meeting.startswith("Presented at the QA meeting of") for c in mine.cases)


def test_a_personal_digest_comes_rendered_for_the_my_feedback_page(demo_ctx: AppContext) -> None:
    files = digest.personal_digest_files(demo_ctx, actor_named(demo_ctx, "trainee2"))
    assert files.cases == 2 and files.title.startswith("My feedback")
    assert files.title in files.html and files.pdf.startswith(b"%PDF")
    assert "Trainee A" not in files.html and "Trainee B" not in files.html


def test_a_leak_the_text_check_missed_stops_both_files(tmp_path: Path) -> None:
    leaky = Digest(
        "Digest",
        "for a test",
        date(2026, 1, 1),
        cases=(DigestCase(1, "eFAST", "Concordant", "Trainee A", "Male", "Seen by JANE DOE"),),
        forbidden=("Jane Doe",),
    )
    for render in (render_html, render_pdf):
        with pytest.raises(DigestLeakError):
            render(leaky)
    with pytest.raises(DigestLeakError):
        digest.write_digest(leaky, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_digest_queries_work_on_both_databases(any_ctx: AppContext) -> None:
    from qa_meeting.services.demo import load_demo

    load_demo(any_ctx)
    [meeting] = digest.digest_meetings(any_ctx, actor_named(any_ctx, "trainee1"))
    built = digest.meeting_digest(any_ctx, actor_named(any_ctx, "trainee1"), meeting.id)
    assert built.figures is not None and built.figures.attended == 5
    assert len(digest.personal_digest(any_ctx, actor_named(any_ctx, "trainee2")).cases) == 2


def test_every_digest_built_is_audited_also_from_the_command_line(any_ctx: AppContext) -> None:
    from qa_meeting.cli import CLI_ACTOR
    from qa_meeting.services.demo import load_demo

    load_demo(any_ctx)
    trainee = actor_named(any_ctx, "trainee2")
    digest.meeting_digest(any_ctx, trainee, DEMO_MEETING)
    digest.meeting_digest(any_ctx, CLI_ACTOR, DEMO_MEETING)  # no user row: named only
    digest.personal_digest(any_ctx, trainee)
    with transaction(any_ctx.engine) as session:
        meeting = repository.list_audit_events(session=session, action="digest.meeting")
        personal = repository.list_audit_events(session=session, action="digest.personal")
        seen = [(e.username, e.user_id, e.target, e.detail) for e in (*meeting, *personal)]
    assert seen == [
        ("cli", None, f"meeting:{DEMO_MEETING}", "cases=3 redactions=0"),
        ("trainee2", trainee.user_id, f"meeting:{DEMO_MEETING}", "cases=3 redactions=0"),
        ("trainee2", trainee.user_id, f"user:{trainee.user_id}", "cases=2 redactions=0"),
    ]


def test_without_the_dejavu_fonts_the_pdf_uses_a_core_font(
    demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from qa_meeting.services import digest_pdf

    monkeypatch.setattr(digest_pdf, "FONT_DIR", tmp_path / "no-fonts")
    built = digest.meeting_digest(demo_ctx, actor_named(demo_ctx, "trainee1"), DEMO_MEETING)
    data = render_pdf(built)
    assert b"/Helvetica" in data and b"DejaVu" not in data
    extracted = pdf_text(data)
    assert all(case.title in extracted for case in built.cases)
    assert "Good spots" in extracted
