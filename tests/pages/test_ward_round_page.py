"""The Ward round page, run with AppTest on the demo data."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.services import ward_round
from qa_meeting.services.context import AppContext
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ReadKind
from qa_meeting.ui import links
from tests.conftest import actor_named
from tests.pages.support import page_text, point_app_at, run_page

PROTOCOLS = load_protocols()
LINE = "Agree: no free fluid in any window; well-timed scan."


@pytest.fixture
def ward_ctx(demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    return point_app_at(demo_ctx, monkeypatch)


def _awaiting(ctx: AppContext) -> list[ward_round.RecentScan]:
    expert = actor_named(ctx, "expert1")
    return [s for s in ward_round.recent_scans(ctx, expert, PROTOCOLS) if s.awaiting_overread]


def _answer_every_question(at: AppTest, scan: ward_round.RecentScan) -> None:
    """Tap the first allowed answer of each question (the trainee's, where they gave one)."""
    protocol = PROTOCOLS[scan.protocol_id]
    for question in protocol.questions:
        [pills] = [p for p in at.pills if p.label == question.text]
        pills.set_value(question.answers[0].value)


def test_the_page_is_in_the_navigation_for_reviewers_only() -> None:
    [spec] = [s for s in links.PAGES if s.url_path == "ward-round"]
    assert (spec.title, spec.icon, spec.module) == (
        "Ward round",
        ":material/stethoscope:",
        "ward_round_page",
    )
    assert spec.visible_to("expert") and not spec.visible_to("trainee")
    paths = [s.url_path for s in links.PAGES]
    assert paths.index("ward-round") == paths.index("review") + 1


def test_an_expert_sees_the_scans_awaiting_an_over_read_first(ward_ctx: AppContext) -> None:
    awaiting = _awaiting(ward_ctx)
    at = run_page("ward_round_page", actor_named(ward_ctx, "expert1"))

    assert not at.exception
    [picker] = at.selectbox
    assert picker.value == awaiting[0].study_id
    labels = picker.options
    assert labels[0].startswith("To over-read · ")
    assert all("Trainee OP-" in label and "Dr " not in label for label in labels)
    questions = [q.text for q in PROTOCOLS[awaiting[0].protocol_id].questions]
    assert [p.label for p in at.pills] == questions
    assert len(at.image) == 1  # the thumbnail
    assert not at.columns  # one column: nothing side by side on a phone


def test_saving_records_the_over_read_confirms_it_and_moves_to_the_next_scan(
    ward_ctx: AppContext,
) -> None:
    first, second = _awaiting(ward_ctx)[:2]
    at = run_page("ward_round_page", actor_named(ward_ctx, "expert1"))
    _answer_every_question(at, first)
    at.text_input[0].input(LINE)
    [good_spot] = [t for t in at.toggle if t.label == "Good spot"]
    good_spot.set_value(True)
    at.button[0].click().run()

    assert not at.exception
    [success] = at.success
    assert success.value.startswith("Over-read saved.") and "queued for the QA meeting" in (
        success.value
    )
    assert at.selectbox[0].value == second.study_id
    with transaction(ward_ctx.engine) as session:
        expert = repository.get_read(session=session, study_id=first.study_id, kind="expert")
        study = repository.get_study(session=session, study_id=first.study_id)
        nomination = repository.get_nomination(session=session, study_id=first.study_id)
    assert expert is not None and expert.reasoning == LINE
    assert study is not None and study.flagged_good_spot and study.status == "reviewed"
    assert nomination is not None


def test_a_missing_answer_is_shown_with_the_remedy_and_nothing_is_stored(
    ward_ctx: AppContext,
) -> None:
    [first, *_] = _awaiting(ward_ctx)
    at = run_page("ward_round_page", actor_named(ward_ctx, "expert1"))
    at.text_input[0].input(LINE)
    at.button[0].click().run()

    assert "is not answered" in page_text(at) and "What to do" in page_text(at)
    with transaction(ward_ctx.engine) as session:
        read = repository.get_read(session=session, study_id=first.study_id, kind=ReadKind.EXPERT)
    assert read is None


def test_a_trainee_sees_no_scans_and_no_form(ward_ctx: AppContext) -> None:
    at = run_page("ward_round_page", actor_named(ward_ctx, "trainee1"))

    assert not at.exception
    assert "for experts, chairs and administrators" in page_text(at)
    assert not at.selectbox and not at.pills and not at.text_input and not at.button
