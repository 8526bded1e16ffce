"""The app as `make run` starts it, on a free port over a temporary data folder, for Chromium.

Playwright's own browser download does not work on these machines, so Debian's Chromium is
launched by its executable path (QA_MEETING_CHROMIUM, default /usr/bin/chromium). Under CI=true
a missing browser fails the test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def app_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of the app under test (its database and media)."""
    return tmp_path_factory.mktemp("e2e-data")


@pytest.fixture(scope="session")
def app_url(app_data_dir: Path) -> Iterator[str]:
    """Start the app the way `make run` does: load the demo when empty, then serve it."""
    data_dir = app_data_dir
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


def sign_in(page: object, app_url: str, username: str) -> None:
    """Open the app and sign in with a demo account."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(app_url)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill("qa-meeting-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("What is waiting")).to_be_visible(timeout=30_000)
