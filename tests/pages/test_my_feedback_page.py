"""The My feedback page: each user sees their own cases, good spots first, and no one else's."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.services.context import AppContext
from qa_meeting.services.demo_cases import DEMO_ACCOUNTS
from qa_meeting.ui import links
from tests.conftest import actor_named
from tests.pages.support import page_text, point_app_at, run_page

SIDE_POINT = "Scan both lung bases in every FUSIC study"
PE_POINT = "D-shaped septum"


@pytest.fixture
def app_ctx(demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    return point_app_at(demo_ctx, monkeypatch)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def test_every_signed_in_role_has_the_page() -> None:
    spec = next(s for s in links.PAGES if s.url_path == "my-feedback")
    assert (spec.title, spec.icon, spec.roles) == ("My feedback", ":material/person_check:", None)
    assert all(spec.visible_to(role) for role in ("trainee", "expert", "chair", "admin"))


def test_trainee1_sees_their_counts_good_spot_and_teaching_point(app_ctx: AppContext) -> None:
    at = run_page("my_feedback_page", actor_named(app_ctx, "trainee1"))

    assert not at.exception
    text = page_text(at)
    assert "Only you see this page" in text
    metrics = _metrics(at)
    assert metrics["Presented at QA meetings"] == "1"
    assert metrics["Good spots"] == "1"
    assert int(metrics["Scans over-read"]) >= 1
    assert [s.value for s in at.subheader][:2] == ["Good spots", "Your cases at QA meetings"]
    assert "Flagged as a good spot" in at.success[0].value
    assert [e.label for e in at.expander] and "Presented" in at.expander[0].label
    assert SIDE_POINT in text
    assert "Discordant (minor)" in text and "Feedback only" in text
    assert PE_POINT not in text  # trainee2's case
    for account in DEMO_ACCOUNTS:
        if account.username != "trainee1":
            assert account.display_name not in text


def test_trainee2_sees_their_own_good_spot_not_trainee1s_point(app_ctx: AppContext) -> None:
    at = run_page("my_feedback_page", actor_named(app_ctx, "trainee2"))

    assert not at.exception
    text = page_text(at)
    assert PE_POINT in text
    assert SIDE_POINT not in text
    assert len(at.expander) == 2
    assert "Chosen for the image bank" in text


def test_a_user_with_no_scans_sees_an_info_message(app_ctx: AppContext) -> None:
    at = run_page("my_feedback_page", actor_named(app_ctx, "expert1"))

    assert not at.exception
    assert [i.value for i in at.info] and "Nothing here yet" in at.info[0].value
    assert not at.metric and not at.expander


def test_the_personal_digest_is_prepared_on_request_as_html_and_pdf(app_ctx: AppContext) -> None:
    actor = actor_named(app_ctx, "trainee1")
    at = run_page("my_feedback_page", actor)
    assert "Personal digest" in [s.value for s in at.subheader]
    assert not at.download_button  # nothing is made until asked for

    at.button[0].click().run()

    assert not at.exception
    assert [b.label for b in at.download_button] == ["Download HTML", "Download PDF"]
    files = at.session_state[f"my_feedback_digest_{actor.user_id}"]
    assert SIDE_POINT in files["html"]
    assert PE_POINT not in files["html"]
    assert files["pdf"].startswith(b"%PDF")
    for account in DEMO_ACCOUNTS:
        if account.username != "trainee1":
            assert account.display_name not in files["html"]
