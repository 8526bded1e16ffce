"""Image bank: browse and search teaching cases, self-test on them, see where the bank is thin.

Everyone browses and self-tests. In self-test mode a case's title, findings and the expert's
read stay hidden until the trainee has committed their own answers; then the expert's answers
show beside theirs with the score. A chair or an administrator imports another site's package.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa_meeting.domain.bank import SelfTestScore
from qa_meeting.services import bank
from qa_meeting.services.bank import BankCaseView, BankQuestion, BankRow
from qa_meeting.services.context import Actor
from qa_meeting.services.meeting_queue import CHAIR_ROLES
from qa_meeting.store.models import Role
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import bank_widgets as widgets
from qa_meeting.ui.widgets.agreement import plain
from qa_meeting.ui.widgets.cine_player import cine_player

SELF_TEST = "bank_self_test"
CASE = "bank_case"
_RESULT = "bank_result_{}"  # (my answers, SelfTestScore) per case, this session


def _case_label(row: BankRow, hide: bool) -> str:
    base = f"Case {row.id} · {row.protocol_name} · {row.level}"
    return base if hide else f"{base} · {row.title}"


def _cases_table(rows: list[BankRow], hide: bool) -> None:
    columns: dict[str, list[object]] = {"Case": [r.id for r in rows]}
    if not hide:
        columns["Title"] = [r.title for r in rows]
        columns["Findings"] = [", ".join(r.findings) or "normal" for r in rows]
    columns |= {
        "Protocol": [r.protocol_name for r in rows],
        "Views": [len(r.views) for r in rows],
        "Quality": [r.image_quality for r in rows],
        "Level": [r.level for r in rows],
        "Source": [r.source for r in rows],
        "Added": [r.added_at.date() for r in rows],
    }
    st.dataframe(pd.DataFrame(columns), hide_index=True, width="stretch")


def _loop_name(clip: str) -> str:
    """A package's "clip-2" as the page says it: "loop 2"."""
    return clip.replace("clip-", "loop ")


def _loops(view: BankCaseView) -> None:
    if not view.clips:
        st.info("This case has no loops.")
        return
    labels = {
        n: f"Loop {n + 1}" + (f" · {clip.view}" if clip.view else "")
        for n, clip in enumerate(view.clips)
    }
    chosen = (
        st.selectbox(
            "Loop", list(labels), format_func=labels.__getitem__, key=f"bank_loop_{view.id}"
        )
        if len(labels) > 1
        else 0
    )
    clip = view.clips[chosen]
    cine_player(widgets.player_media(clip), height=420)


def _context(view: BankCaseView) -> None:
    context = view.context
    st.text(f"Age band: {context.age_band or 'not given'} · Sex: {context.sex or 'not given'}")
    st.text(f"Indication: {context.indication or 'not given'}")
    quality = f"image quality {view.image_quality}" if view.image_quality else "quality not graded"
    st.caption(
        f"{plain(view.protocol_name)} · {view.level} · {quality} · from {plain(view.source)}"
    )


def _expert_read(view: BankCaseView) -> None:
    st.subheader("The expert's read")
    widgets.expert_answers_table(view.questions)
    if view.expert_reasoning:
        st.markdown("**Reasoning**")
        st.text(view.expert_reasoning)
    if view.diagnosis:
        st.text(f"Diagnosis: {view.diagnosis}")
    if view.teaching_points:
        st.subheader("Teaching points")
        for point in view.teaching_points:
            loop = _loop_name(point.clip or "clip-1")
            where = f" ({loop}, frame {point.frame + 1})" if point.frame is not None else ""
            st.text(f"• [{point.category.replace('_', ' ')}] {point.text}{where}")
    frames = [(clip.name, index, path) for clip in view.clips for index, path in clip.key_frames]
    if frames:
        st.subheader("Key frames")
        columns = st.columns(min(3, len(frames)))
        for n, (name, index, path) in enumerate(frames):
            caption = f"{_loop_name(name)} · frame {index + 1}"
            columns[n % len(columns)].image(str(path), caption=caption.capitalize())


def _scored(view: BankCaseView) -> list[BankQuestion]:
    return [q for q in view.questions if q.expert_answer is not None]


def _answer_form(actor: Actor, view: BankCaseView) -> None:
    """The trainee's own read, before anything of the expert's shows."""
    st.subheader("Your read")
    st.caption("Watch the loop, then answer before you see the expert's read.")
    answers = widgets.self_test_form(_scored(view), key=f"bank_test_{view.id}")
    if answers is not None:
        st.session_state[_RESULT.format(view.id)] = bank.submit_self_test(
            resources.app_context(), actor, view.id, answers
        )
        st.rerun()  # the title and the expert's read show now


def _score(view: BankCaseView, result: SelfTestScore) -> None:
    st.subheader("Your answers and the expert's")
    widgets.self_test_result(_scored(view), result, resources.protocols().get(view.protocol_id))
    if st.button("Try this case again", key=f"bank_retry_{view.id}", icon=":material/replay:"):
        st.session_state.pop(_RESULT.format(view.id), None)
        st.rerun()


def _case(actor: Actor, case_id: int, testing: bool) -> None:
    view = bank.bank_case(
        resources.app_context(), actor, case_id, record_view=state.first_view("bank", case_id)
    )
    result = st.session_state.get(_RESULT.format(case_id))
    testable = testing and bool(_scored(view))
    answered = not testable or isinstance(result, SelfTestScore)
    st.header(plain(view.title) if answered else f"Case {view.id}")
    left, right = st.columns([3, 2])
    with left:
        _loops(view)
    with right:
        st.subheader("Clinical context")
        _context(view)
        if testing and not testable:
            st.info("The expert did not answer this case's questions: there is nothing to test.")
        if not answered:
            _answer_form(actor, view)
    if not answered:
        return
    if testable and isinstance(result, SelfTestScore):
        _score(view, result)
    _expert_read(view)


def _browse(actor: Actor) -> None:
    testing = st.toggle(
        "Self-test: answer each case before the expert's read is shown",
        value=actor.role == Role.TRAINEE.value,
        key=SELF_TEST,
    )
    filters = widgets.bank_filters(resources.protocols(), key="bank_filter")
    rows = bank.list_bank(resources.app_context(), actor, filters)
    if not rows:
        st.info("No bank case matches. Clear a filter, or see Coverage for what the bank lacks.")
        return
    st.caption(f"{len(rows)} case(s).")
    _cases_table(rows, hide=testing)
    labels = {row.id: _case_label(row, testing) for row in rows}
    chosen = st.selectbox(
        "Open a case",
        list(labels),
        format_func=labels.__getitem__,
        key=f"{CASE}_{'test' if testing else 'browse'}",  # labels differ: one choice per mode
    )
    if chosen is not None:
        _case(actor, chosen, testing)


def _coverage(actor: Actor) -> None:
    counts = bank.coverage(resources.app_context(), actor)
    names, findings, grid = widgets.coverage_grid(counts, resources.protocols())
    empty = sum(1 for row in grid for n in row if n == 0)
    cells = sum(1 for row in grid for n in row if n is not None)
    st.caption(
        f"Cases per protocol and finding. {empty} of {cells} cells have no case yet (red): "
        "export cases like these from the next meetings."
    )
    st.plotly_chart(
        widgets.coverage_figure(names, findings, grid),
        key="bank_coverage",
        config={"displayModeBar": False},
    )


def _import(actor: Actor) -> None:
    with st.form("bank_import", clear_on_submit=True):
        upload = st.file_uploader("Package (.zip) from another site", type=["zip"])
        source = st.text_input("Where it comes from (site name)", max_chars=200)
        submitted = st.form_submit_button("Import the package", icon=":material/upload:")
    if not submitted:
        return
    if upload is None:
        st.warning("Choose a package file first.")
        return
    with reported_errors():
        summary = bank.import_bank_package(
            resources.app_context(), actor, upload.getvalue(), source=source or upload.name
        )
        st.success(f"Imported as bank case {summary.id} with {summary.clips} loop(s).")
        st.text(summary.title)


def render() -> None:
    actor = state.require_actor()
    st.title("Image bank")
    names = ["Cases", "Coverage"] + (["Import a package"] if actor.role in CHAIR_ROLES else [])
    tabs = st.tabs(names)
    with tabs[0], reported_errors():
        _browse(actor)
    with tabs[1], reported_errors():
        _coverage(actor)
    if len(tabs) > 2:
        with tabs[2]:
            _import(actor)
