"""Sign-in, the Inbox and the player, in Debian's Chromium through Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, sign_in

pytestmark = pytest.mark.e2e


def test_sign_in_with_a_demo_account_and_see_the_demo_cases_in_the_inbox(
    app_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sign_in(page, app_url, "expert1")
            page.get_by_role("link", name="Inbox").click()
            expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("scans. Select a row to open it in Review.")).to_be_visible(
                timeout=30_000
            )
            caption = page.get_by_text("scans. Select a row to open it in Review.").inner_text()
            assert int(caption.split()[0]) >= 12
            page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
        finally:
            browser.close()


def test_the_review_page_plays_a_demo_loop_at_its_stored_rate(app_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sign_in(page, app_url, "expert1")
            page.get_by_role("link", name="Review").click()
            caption = page.get_by_text("frames/s")
            expect(caption).to_be_visible(timeout=60_000)
            # "40 frames · 40.0 frames/s (FrameTime) · 1.00 s"
            words = caption.inner_text().replace("·", " ").split()
            frames, rate = int(words[0]), float(words[2])
            player = page.frame_locator("iframe").first
            video = player.locator("#video")
            expect(video).to_have_attribute("src", re.compile("^data:video/mp4"), timeout=30_000)
            page.wait_for_function(
                "() => { const f = document.querySelector('iframe');"
                " const v = f && f.contentDocument.getElementById('video');"
                " return v && v.readyState >= 1 && v.duration > 0; }",
                timeout=30_000,
            )
            duration = float(video.evaluate("v => v.duration"))
            assert duration == pytest.approx(frames / rate, abs=1.5 / rate)
            assert video.evaluate("v => v.loop") is True
            player.locator("#play").click()  # pause
            player.locator("#next").click()
            where = player.locator("#where").inner_text()
            assert where.startswith("Frame ") and f"/ {frames}" in where
        finally:
            browser.close()
