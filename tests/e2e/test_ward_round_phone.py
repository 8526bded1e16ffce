"""The ward-round form on a phone (390 x 844, touch) in Debian's Chromium through Playwright.

expert1 opens Ward round from the folded menu, keeps the scan the page offers (the newest one
awaiting its over-read), taps the trainee's answer to every question (so the scan is concordant),
writes one line, taps "Good spot" and saves; the page confirms and never scrolls sideways. Then
the database is checked through the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, sign_in

pytestmark = pytest.mark.e2e
LINE = "Agree with the trainee: a clean, complete study. Good spot."
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def _scan_awaiting_overread(data_dir: Path) -> tuple[int, list[tuple[str, str]]]:
    """The scan the page offers first, and each question with its trainee's answer label."""
    from qa_meeting.services import ward_round
    from qa_meeting.services.protocols import load_protocols
    from qa_meeting.store import repository
    from qa_meeting.store.db import transaction
    from tests.conftest import actor_named, make_context

    ctx = make_context(data_dir)
    try:
        protocols = load_protocols()
        expert = actor_named(ctx, "expert1")
        awaiting = [
            s for s in ward_round.recent_scans(ctx, expert, protocols) if s.awaiting_overread
        ]
        assert awaiting, "the demo must hold a scan awaiting its over-read"
        scan = awaiting[0]
        with transaction(ctx.engine) as session:
            read = repository.get_read(session=session, study_id=scan.study_id, kind="trainee")
        assert read is not None
        protocol = protocols[scan.protocol_id]
        answers = [(q.text, q.answer(read.answers[q.id]).label) for q in protocol.questions]
        return scan.study_id, answers
    finally:
        ctx.engine.dispose()


def test_an_expert_reviews_a_scan_on_a_phone_and_marks_a_good_spot(
    app_url: str, app_data_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    study_id, answers = _scan_awaiting_overread(app_data_dir)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844},
                is_mobile=True,
                has_touch=True,
                device_scale_factor=2,
            )
            page = context.new_page()
            sign_in(page, app_url, "expert1")
            page.get_by_test_id("stExpandSidebarButton").click()  # a phone: menu folded
            page.get_by_role("link", name="Ward round").click()
            page.get_by_test_id("stSidebar").get_by_role("button").first.click()  # fold it
            expect(page.get_by_role("heading", name="Ward round")).to_be_visible(timeout=30_000)
            picker = page.get_by_role("combobox", name="1. Scan")
            expect(picker).to_have_value(re.compile("^To over-read · "), timeout=30_000)

            expect(page.get_by_test_id("stImage")).to_be_visible(timeout=30_000)  # thumbnail
            expect(page.get_by_role("radiogroup")).to_have_count(len(answers), timeout=30_000)
            for question, label in answers:
                group = page.get_by_role("radiogroup", name=question, exact=True)
                group.get_by_role("radio", name=label, exact=True).tap()
                expect(group.get_by_role("radio", name=label, exact=True)).to_be_checked()
            page.get_by_role("textbox", name="3. Reasoning, one line").fill(LINE)
            page.get_by_text("Good spot", exact=True).tap()  # the switch's label: one tap
            expect(page.get_by_role("switch", name="Good spot")).to_be_checked()
            assert page.evaluate(NO_SIDEWAYS_SCROLL), "the form scrolls sideways on a phone"
            page.screenshot(path=str(tmp_path / "ward_round_form.png"), full_page=True)
            page.get_by_role("button", name="Save the over-read").tap()

            confirmation = page.get_by_text("Over-read saved.")
            expect(confirmation).to_be_visible(timeout=30_000)
            expect(confirmation).to_contain_text("Concordant")
            expect(confirmation).to_contain_text("queued for the QA meeting: good spot")
            assert page.evaluate(NO_SIDEWAYS_SCROLL), "the ward round scrolls sideways on a phone"
            page.screenshot(path=str(tmp_path / "ward_round_saved.png"))
        finally:
            browser.close()

    _check_the_database(app_data_dir, study_id)


def _check_the_database(data_dir: Path, study_id: int) -> None:
    from qa_meeting.store import repository
    from qa_meeting.store.db import transaction
    from tests.conftest import make_context

    ctx = make_context(data_dir)
    try:
        with transaction(ctx.engine) as session:
            read = repository.get_read(session=session, study_id=study_id, kind="expert")
            expert = repository.get_user_by_username(session=session, username="expert1")
            nomination = repository.get_nomination(session=session, study_id=study_id)
            study = repository.get_study(session=session, study_id=study_id)
        assert read is not None and expert is not None
        assert (read.reasoning, read.reader_id) == (LINE, expert.id)
        assert nomination is not None and nomination.reason == "good_spot"
        assert study is not None and study.flagged_good_spot and study.status == "reviewed"
    finally:
        ctx.engine.dispose()
