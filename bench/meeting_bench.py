"""Server time of the presenter: a reveal step and a next-case switch, at department scale.

The database holds the demo plus 100,000 scans (with trainee and expert reads) and 200 past
meetings (``bench.meeting_data``, built once per process); every clip's media are prepared
beforehand, as they are once the app has shown a clip. A meeting of the demo queue is live.
Streamlit's AppTest runs the Present page in this process: each measurement is one rerun after
a button press, the same work the server does when the chair presses a key. The baseline is a
trivial page (a title and a line of text) measured the same way in the same run. Figures are
medians of repeated reruns.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import date

from streamlit.testing.v1 import AppTest

from bench.common import Result
from bench.meeting_data import MEETINGS, SCANS, department
from qa_meeting.services import agenda_proposal, meetings
from qa_meeting.services.context import build_context
from qa_meeting.services.protocols import load_protocols
from qa_meeting.services.users import actor_for
from qa_meeting.store import repository
from qa_meeting.store.db import transaction

REPEATS = 12
PRESENT = "from qa_meeting.pages import present_page\npresent_page.render()\n"
TRIVIAL = "import streamlit as st\nst.title('Trivial page')\nst.write('One line of text.')\n"


def _median_ms(*reruns: Callable[[], object]) -> float:
    """Median time of one rerun, cycling through ``reruns`` (e.g. forward then back)."""
    times = []
    for _ in range(REPEATS):
        for rerun in reruns:
            start = time.perf_counter()
            rerun()
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run() -> list[Result]:
    settings = department().settings
    ctx = build_context(settings)
    with transaction(ctx.engine) as session:
        chair_user = repository.get_user_by_username(session=session, username="chair1")
        assert chair_user is not None
    chair = actor_for(chair_user)
    proposal = agenda_proposal.propose_agenda(ctx, chair, 60, load_protocols())
    meeting_id = meetings.create_meeting(
        ctx,
        chair,
        held_on=date.today(),
        slot_minutes=60,
        agenda=[case.planned() for case in proposal.cases],
    )
    meetings.start_meeting(ctx, chair, meeting_id)
    ctx.engine.dispose()
    os.environ["QA_MEETING_DATA_DIR"] = str(settings.data_dir)
    try:
        trivial = AppTest.from_string(TRIVIAL, default_timeout=60).run()
        trivial_ms = _median_ms(trivial.run)
        present = AppTest.from_string(PRESENT, default_timeout=60)
        present.session_state["actor"] = chair
        present.run()
        assert not present.exception, present.exception

        def press(key: str) -> Callable[[], object]:
            def rerun() -> object:
                return present.button(key=key).click().run()

            return rerun

        forward, back = press("present_next_step"), press("present_previous_step")
        forward()  # warm the first case
        back()
        step_ms = _median_ms(forward, back)
        next_case, previous_case = press("present_next_case"), press("present_previous_case")
        next_case()
        previous_case()
        switch_ms = _median_ms(next_case, previous_case)
        assert not present.exception, present.exception
    finally:
        os.environ.pop("QA_MEETING_DATA_DIR", None)
    scale = f"{SCANS:,} scans, {MEETINGS} meetings"
    return [
        Result(
            f"presenter reveal step, server rerun ({scale}) (ms)",
            f"{step_ms:.0f}",
            f"{trivial_ms:.0f} (trivial page)",
            step_ms / trivial_ms,
            "<= 100 ms per rerun",
        ),
        Result(
            f"presenter next-case switch, server rerun ({scale}) (ms)",
            f"{switch_ms:.0f}",
            f"{trivial_ms:.0f} (trivial page)",
            switch_ms / trivial_ms,
            "<= 100 ms per rerun",
        ),
    ]
