"""Shared AppTest helpers for the page tests: run one page as a user, read what it shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.services.context import Actor, AppContext

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def point_app_at(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """Make the app's own settings (read by the pages) use ``ctx``'s data folder."""
    monkeypatch.setenv("QA_MEETING_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.delenv("QA_MEETING_DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    return ctx


def run_page(module: str, actor: Actor) -> AppTest:
    """Run ``qa_meeting.pages.<module>.render()`` signed in as ``actor``."""
    script = f"from qa_meeting.pages import {module}\n{module}.render()\n"
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.session_state["actor"] = actor
    return at.run()


def page_text(at: AppTest) -> str:
    """Every piece of text the page shows, one per line."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.text] + [e.value for e in at.info] + [e.value for e in at.error]
    parts += [e.value for e in at.warning] + [e.value for e in at.success]
    parts += [f"{m.label} {m.value}" for m in at.metric] + [s.value for s in at.subheader]
    parts += [h.value for h in at.header]
    return "\n".join(str(p) for p in parts)
