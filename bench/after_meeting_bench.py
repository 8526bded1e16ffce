"""After the meeting, at department scale: the loop figures, the digest and the ward round.

The database is the presenter benchmark's (``bench.meeting_data.department()``: the demo plus
100,000 scans spread over the last year, 27 trainees and 200 past meetings with teaching points
and attendance), built once per process. Each figure has a baseline measured in the same run:

- loop figures service, for a chair (every trainee, the learning curves included), over the
  default 12 months; baseline: the repository query it reads the scans with, alone;
- loop figures page: one AppTest rerun after changing the period, as the chair, once the
  period's figures are cached (and, separately, the first view of a period, which computes
  them); baseline: a trivial page (a title and a line of text) rerun the same way;
- the demo meeting's digest: ``meeting_digest`` + HTML + PDF; baseline: the same key frames
  alone (read from the DICOM loops, blanked and JPEG-encoded: ``digest_frames.key_frames``);
- ward round page: one AppTest rerun after picking another scan, as expert1; baseline: the
  trivial page.

Figures are medians of repeats. The memory figures are the peak of Python allocations while the
service (or its query alone) runs (``tracemalloc``), above what was allocated before it.
"""

from __future__ import annotations

import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from streamlit.testing.v1 import AppTest

from bench.common import Result
from bench.meeting_data import SCANS, department
from qa_meeting.services import loop_figures
from qa_meeting.services.context import Actor, AppContext, build_context
from qa_meeting.services.digest import meeting_digest
from qa_meeting.services.digest_frames import case_sources, frame_links, key_frames
from qa_meeting.services.digest_html import render_html
from qa_meeting.services.digest_pdf import render_pdf
from qa_meeting.services.protocols import load_protocols
from qa_meeting.services.users import actor_for
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ItemOutcome

SERVICE_REPEATS = 5
PAGE_REPEATS = 6
DIGEST_REPEATS = 3
TRIVIAL = "import streamlit as st\nst.title('Trivial page')\nst.write('One line of text.')\n"
LOOPS_PAGE = "from qa_meeting.pages import loops_page\nloops_page.render()\n"
DEFAULT_PERIOD = "Last 12 months"
WARD_ROUND_PAGE = "from qa_meeting.pages import ward_round_page\nward_round_page.render()\n"


def _median_s(repeats: int, *work: Callable[[], object]) -> float:
    """Median time of one call, in seconds, cycling through ``work``."""
    times = []
    for _ in range(repeats):
        for call in work:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _actor(ctx: AppContext, username: str) -> Actor:
    with transaction(ctx.engine) as session:
        user = repository.get_user_by_username(session=session, username=username)
    assert user is not None, username
    return actor_for(user)


def _peak_mb(work: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / 2**20


def _key_frames_alone(ctx: AppContext, meeting_id: int) -> Callable[[], object]:
    """The digest's pictures alone: its key frames read, blanked and JPEG-encoded."""
    inputs = []
    with transaction(ctx.engine) as session:
        items = repository.list_agenda_items(session=session, meeting_id=meeting_id)
        for item in items:
            if item.outcome != ItemOutcome.PRESENTED:
                continue
            sources = case_sources(session, study_id=item.study_id, meeting_id=meeting_id)
            links = frame_links(sources.loops, sources.points, sources.notes, {})
            inputs.append((sources.loops, links))

    def work() -> object:
        return [key_frames(ctx, loops, links) for loops, links in inputs]

    return work


@contextmanager
def _app_data(ctx: AppContext) -> Iterator[None]:
    os.environ["QA_MEETING_DATA_DIR"] = str(ctx.settings.data_dir)
    try:
        yield
    finally:
        os.environ.pop("QA_MEETING_DATA_DIR", None)


def _loops_page_s(chair: Actor) -> tuple[float, float]:
    """The first view of each other period (figures computed) and later reruns (cached)."""
    page = AppTest.from_string(LOOPS_PAGE, default_timeout=120)
    page.session_state["actor"] = chair
    page.run()
    assert not page.exception, page.exception

    def period(label: str) -> Callable[[], object]:
        def rerun() -> object:
            page.selectbox(key="loops_period").set_value(label).run()
            assert not page.exception, page.exception
            return page

        return rerun

    periods = [period(label) for label in loop_figures.PERIODS]
    first_views = []
    for label, rerun in zip(loop_figures.PERIODS, periods, strict=True):
        start = time.perf_counter()
        rerun()
        if label != DEFAULT_PERIOD:  # the default period was computed by the first run
            first_views.append(time.perf_counter() - start)
    return statistics.median(first_views), _median_s(PAGE_REPEATS, *periods)


def _ward_round_s(expert: Actor) -> float:
    page = AppTest.from_string(WARD_ROUND_PAGE, default_timeout=120)
    page.session_state["actor"] = expert
    page.run()
    assert not page.exception, page.exception
    assert len(page.selectbox(key="ward_round_scan").options) >= 2

    def pick(index: int) -> Callable[[], object]:
        def rerun() -> object:
            page.selectbox(key="ward_round_scan").select_index(index).run()
            assert not page.exception, page.exception
            return page

        return rerun

    first, second = pick(0), pick(1)
    first()
    second()
    return _median_s(PAGE_REPEATS * 2, first, second)


def run() -> list[Result]:
    built = department()
    ctx = build_context(built.settings)
    chair, expert = _actor(ctx, "chair1"), _actor(ctx, "expert1")
    protocols = load_protocols(ctx.settings.protocols_dir)

    def figures() -> object:
        return loop_figures.loop_figures(ctx, chair, protocols=protocols)

    def fetch() -> object:
        with transaction(ctx.engine) as session:
            return repository.loop_scan_rows(session=session)

    figures()
    fetch()
    figures_s = _median_s(SERVICE_REPEATS, figures)
    fetch_s = _median_s(SERVICE_REPEATS, fetch)
    peak_mb, rows_mb = _peak_mb(figures), _peak_mb(fetch)

    def digest() -> object:
        built_digest = meeting_digest(ctx, chair, built.demo_meeting_id)
        return render_html(built_digest), render_pdf(built_digest)

    frames_alone = _key_frames_alone(ctx, built.demo_meeting_id)
    digest()
    frames_alone()
    digest_s = _median_s(DIGEST_REPEATS, digest)
    frames_s = _median_s(DIGEST_REPEATS, frames_alone)
    ctx.engine.dispose()
    with _app_data(ctx):
        trivial = AppTest.from_string(TRIVIAL, default_timeout=60).run()
        trivial_s = _median_s(PAGE_REPEATS * 2, trivial.run)
        loops_first_s, loops_s = _loops_page_s(chair)
        ward_s = _ward_round_s(expert)
    scale = f"{SCANS:,} scans"
    ms = 1000
    return [
        Result(
            f"loop figures service, chair, 12 months ({scale}) (ms)",
            f"{figures_s * ms:.0f}",
            f"{fetch_s * ms:.0f} (the scan rows' query alone)",
            figures_s / fetch_s,
            "report; the page stays usable",
        ),
        Result(
            f"loop figures service, peak memory growth ({scale}) (MB)",
            f"{peak_mb:.0f}",
            f"{rows_mb:.0f} (the scan rows' query alone)",
            peak_mb / rows_mb,
            "report: bounded",
        ),
        Result(
            f"loop figures page, rerun after changing the period, chair ({scale}) (ms)",
            f"{loops_s * ms:.0f}",
            f"{trivial_s * ms:.0f} (trivial page)",
            loops_s / trivial_s,
            "<= 1 s per rerun",
        ),
        Result(
            f"loop figures page, first view of a period after a data change, chair ({scale}) (ms)",
            f"{loops_first_s * ms:.0f}",
            f"{trivial_s * ms:.0f} (trivial page)",
            loops_first_s / trivial_s,
            "report (computed once per data change, viewer and period)",
        ),
        Result(
            "meeting digest, HTML + PDF, demo meeting (s)",
            f"{digest_s:.2f}",
            f"{frames_s:.2f} (its key frames alone)",
            digest_s / frames_s,
            "report (a few s is fine)",
        ),
        Result(
            f"ward round page, rerun after picking a scan, expert ({scale}) (ms)",
            f"{ward_s * ms:.0f}",
            f"{trivial_s * ms:.0f} (trivial page)",
            ward_s / trivial_s,
            "<= 300 ms per rerun",
        ),
    ]
