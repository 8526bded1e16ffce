"""The Digest page, run with AppTest: pick a closed meeting, preview it, download it."""

from __future__ import annotations

import pytest

from qa_meeting.services.context import AppContext
from qa_meeting.ui import links
from tests.conftest import actor_named, add_actor
from tests.pages.support import page_text, point_app_at, run_page


def test_every_signed_in_user_finds_the_digest_page() -> None:
    [spec] = [s for s in links.PAGES if s.url_path == "digest"]
    assert (spec.title, spec.module, spec.roles) == ("Digest", "digest_page", None)
    assert all(spec.visible_to(role) for role in ("trainee", "expert", "chair", "admin"))


@pytest.mark.parametrize("username", ["trainee3", "chair1"])
def test_a_closed_meeting_is_previewed_with_both_downloads(
    demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    point_app_at(demo_ctx, monkeypatch)
    at = run_page("digest_page", actor_named(demo_ctx, username))
    assert not at.exception, at.exception
    [meeting] = at.selectbox
    assert meeting.label == "Meeting" and "meeting 1, 3 case(s)" in str(
        meeting.format_func(meeting.value)
    )
    assert at.subheader[0].value.startswith("QA meeting digest: ")
    downloads = at.get("download_button")
    assert len(downloads) == 2
    shown = " ".join(str(d.proto.label) for d in downloads)
    assert "Download HTML" in shown and "Download PDF" in shown
    previews = [h.proto.body for h in at.get("html")]
    assert len(previews) == 1 and "Case 3: FUSIC Heart" in previews[0]
    assert "Dr Priya Trainee" not in previews[0] and "Good spots" in previews[0]
    assert not at.error


def test_without_a_closed_meeting_there_is_a_clear_line(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_app_at(ctx, monkeypatch)
    at = run_page("digest_page", add_actor(ctx, "newcomer", "trainee"))
    assert not at.exception, at.exception
    assert "No meeting has been closed yet" in page_text(at)
    assert not at.selectbox and not at.get("download_button")
