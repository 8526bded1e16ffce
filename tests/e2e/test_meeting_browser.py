"""A whole meeting of three demo cases in Chromium: agenda, keyboard reveal, audience, capture.

The chair builds the agenda on Queue & agenda and saves it, starts the meeting, reveals the
steps with the keyboard; a trainee on a second browser session commits answers on Follow before
the reveal; the chair records a teaching point and closes the meeting. Then the database is
checked through the services.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, sign_in

pytestmark = pytest.mark.e2e
TEACHING_POINT = "Check the apex in a second view before calling LV impairment."


def test_a_meeting_of_three_cases_from_agenda_to_close(app_url: str, app_data_dir: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            chair = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            sign_in(chair, app_url, "chair1")
            chair.get_by_role("link", name="Queue & agenda").click()
            slot = chair.get_by_label("Slot (minutes)")
            expect(slot).to_be_visible(timeout=30_000)
            slot.fill("20")
            slot.press("Enter")
            chair.get_by_role("button", name="Propose agenda").click()
            save = chair.get_by_role("button", name="Save meeting")
            expect(save).to_be_visible(timeout=30_000)
            save.click()
            expect(chair.get_by_text("saved with 3 case(s)")).to_be_visible(timeout=30_000)
            chair.get_by_role("link", name="Present").click()
            chair.get_by_role("button", name="Start meeting").click()
            expect(chair.get_by_text("Case 1 of 3")).to_be_visible(timeout=60_000)
            expect(chair.get_by_text("Step 1 of 5")).to_be_visible()

            trainee = browser.new_context(viewport={"width": 400, "height": 860}).new_page()
            sign_in(trainee, app_url, "trainee3")
            trainee.get_by_test_id("stExpandSidebarButton").click()  # a phone: menu folded
            trainee.get_by_role("link", name="Follow").click()
            trainee.get_by_test_id("stSidebar").get_by_role("button").first.click()  # fold it
            commit = trainee.get_by_role("button", name="Commit my answers")
            expect(commit).to_be_visible(timeout=30_000)
            trainee.wait_for_timeout(2500)  # let the page's first live poll settle
            for group in trainee.get_by_role("radiogroup").all():
                group.get_by_test_id("stRadioOption").first.click()
            commit.click()
            expect(trainee.get_by_text("Committed.")).to_be_visible(timeout=30_000)

            chair.get_by_text("Case 1 of 3").click()  # focus the page, not the player
            chair.keyboard.press("ArrowRight")
            expect(chair.get_by_text("Step 2 of 5")).to_be_visible(timeout=30_000)
            expect(chair.get_by_text("answer(s) committed in the room")).to_contain_text(
                "1", timeout=30_000
            )
            for step in (3, 4, 5):
                chair.keyboard.press("ArrowRight")
                expect(chair.get_by_text(f"Step {step} of 5")).to_be_visible(timeout=30_000)
            expect(chair.get_by_text("Trainee A").first).to_be_visible()

            chair.get_by_role("textbox", name="Teaching point").fill(TEACHING_POINT)
            chair.get_by_role("button", name="Save teaching point").click()
            expect(chair.get_by_text(TEACHING_POINT).first).to_be_visible(timeout=30_000)
            chair.get_by_role("tab", name="Attendance & close").click()
            chair.get_by_role("button", name="Close the meeting…").click()
            chair.get_by_role("button", name="Yes, close the meeting").click()
            expect(chair.get_by_text("The meeting is closed")).to_be_visible(timeout=30_000)
        finally:
            browser.close()

    _check_the_database(app_data_dir)


def _check_the_database(data_dir: Path) -> None:
    from qa_meeting.services import meetings
    from qa_meeting.store import repository
    from qa_meeting.store.db import transaction
    from tests.conftest import actor_named, make_context

    ctx = make_context(data_dir)
    try:
        chair = actor_named(ctx, "chair1")
        newest = meetings.list_meetings(ctx, chair)[0]
        assert (newest.status, newest.cases, newest.presented) == ("closed", 3, 1)
        assert newest.deferred == 2
        assert newest.attendance >= 2  # the chair and the trainee on Follow
        with transaction(ctx.engine) as session:
            points = repository.list_teaching_points(session=session, meeting_id=newest.id)
            items = repository.list_agenda_items(session=session, meeting_id=newest.id)
            responses = repository.list_responses(session=session, item_id=items[0].id or 0)
        assert [p.text for p in points] == [TEACHING_POINT]
        assert len(responses) == 1
    finally:
        ctx.engine.dispose()
