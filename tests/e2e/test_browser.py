"""The app as `make run` starts it, driven in Debian's Chromium through Playwright.

Playwright's own browser download does not work on these machines, so Chromium is launched by its
executable path (QA_MEETING_CHROMIUM, default /usr/bin/chromium). Under CI=true a missing browser
fails the test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.e2e


def chromium_path() -> str:
    path = os.environ.get("QA_MEETING_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not Path(path).exists():
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the app did not answer at {url} within {seconds} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the app the way `make run` does: load the demo when empty, then serve it."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = {**os.environ, "QA_MEETING_DATA_DIR": str(data_dir)}
    env.pop("QA_MEETING_DATABASE_URL", None)
    subprocess.run([str(BIN / "qa-meeting"), "demo", "--if-empty"], cwd=ROOT, env=env, check=True)
    port = _free_port()
    log = (data_dir / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [
            str(BIN / "streamlit"),
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


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
            page.goto(app_url)
            page.get_by_role("textbox", name="User name").fill("expert1")
            page.get_by_role("textbox", name="Password").fill("qa-meeting-demo")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("What is waiting")).to_be_visible(timeout=30_000)
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
            page.goto(app_url)
            page.get_by_role("textbox", name="User name").fill("expert1")
            page.get_by_role("textbox", name="Password").fill("qa-meeting-demo")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("What is waiting")).to_be_visible(timeout=30_000)
            page.get_by_role("link", name="Review").click()
            caption = page.get_by_text("frames/s")
            expect(caption).to_be_visible(timeout=60_000)
            # "40 frames · 40.0 frames/s (FrameTime) · 1.00 s"
            words = caption.inner_text().replace("·", " ").split()
            frames, rate = int(words[0]), float(words[2])
            player = page.frame_locator("iframe").first
            video = player.locator("#video")
            expect(video).to_have_attribute("src", re.compile("^data:video/mp4"))
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
