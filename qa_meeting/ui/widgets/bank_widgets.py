"""Pieces of the image-bank page: filters, the player's media, the self-test, the coverage chart.

Text from bank cases (which may come from another site) is shown with ``st.text`` or inside
tables; only protocol configuration and our own words go into Markdown, escaped by ``plain``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from qa_meeting.domain.bank import NORMAL, BankFilter, SelfTestScore, finding_label
from qa_meeting.domain.package import Level
from qa_meeting.domain.protocols import Polarity, Protocol
from qa_meeting.domain.reads import IMAGE_QUALITY_SCALE
from qa_meeting.services.bank import BankQuestion, PlayerClip
from qa_meeting.services.media import ClipMedia, ClipTiming
from qa_meeting.ui.widgets.agreement import (
    AGREE,
    MAJOR,
    MINOR,
    NOT_ANSWERED,
    Agreement,
    agreement,
    badge,
    plain,
)

ANY = ""
_CHOOSE = "__choose__"
DIFFERENT = Agreement("red", "Different")


def possible_findings(protocol: Protocol) -> list[str]:
    """Every finding a case of ``protocol`` can count under: normal, then positive answers."""
    labels = [
        finding_label(question.id, answer.value, answer.label)
        for question in protocol.questions
        for answer in question.answers
        if answer.polarity is Polarity.POSITIVE
    ]
    return list(dict.fromkeys([NORMAL, *labels]))


def finding_text(finding: str) -> str:
    """A finding as shown: "normal" reads as a normal study."""
    return "Normal study (no finding)" if finding == NORMAL else finding


def bank_filters(protocols: Mapping[str, Protocol], *, key: str) -> BankFilter:
    """Protocol, view, finding, minimum quality, level and words in the title or tags."""
    top = st.columns(3)
    protocol_id = top[0].selectbox(
        "Protocol",
        [ANY, *protocols],
        format_func=lambda p: "Any protocol" if p == ANY else protocols[p].name,
        key=f"{key}_protocol",
    )
    chosen = [protocols[protocol_id]] if protocol_id else list(protocols.values())
    views = {v.id: v.label for p in chosen for v in p.views}
    findings = list(dict.fromkeys(f for p in chosen for f in possible_findings(p)))
    view = top[1].selectbox(
        "View",
        [ANY, *views],
        format_func=lambda v: "Any view" if v == ANY else views[v],
        key=f"{key}_view",
    )
    finding = top[2].selectbox(
        "Finding",
        [ANY, *findings],
        format_func=lambda f: "Any finding" if f == ANY else finding_text(f),
        key=f"{key}_finding",
    )
    bottom = st.columns(3)
    quality = bottom[0].selectbox(
        "Image quality at least",
        [0, *IMAGE_QUALITY_SCALE],
        format_func=lambda q: "Any quality" if q == 0 else f"{q}: {IMAGE_QUALITY_SCALE[q]}",
        key=f"{key}_quality",
    )
    level = bottom[1].selectbox(
        "Level",
        [ANY, *(lv.value for lv in Level)],
        format_func=lambda lv: "Any level" if lv == ANY else lv.title(),
        key=f"{key}_level",
    )
    text = bottom[2].text_input("Words in the title or tags", key=f"{key}_text", max_chars=100)
    return BankFilter(
        protocol_id=protocol_id or None,
        view=view or None,
        finding=finding or None,
        min_quality=quality or None,
        level=level or None,
        text=text.strip(),
    )


def player_media(clip: PlayerClip) -> ClipMedia:
    """The cine player's input for a cleaned bank loop (its timing from the DICOM header)."""
    stamps = clip.timestamps_ms
    intervals = (
        np.diff(stamps) if len(stamps) > 1 else np.array([1000 / max(clip.frames_per_second, 1)])
    )
    duration = float(stamps[-1] + intervals[-1]) if stamps else 0.0
    timing = ClipTiming(
        rows=0,
        columns=0,
        timestamps_ms=stamps,
        frames_per_second=clip.frames_per_second,
        duration_ms=duration,
        variable_timing=bool(np.ptp(intervals) > 1.0),
        frame_rate_source="DICOM header",
    )
    thumbnail = clip.key_frames[0][1] if clip.key_frames else clip.video
    return ClipMedia(0, clip.video, thumbnail, timing, built=False)


def self_test_form(questions: Sequence[BankQuestion], *, key: str) -> dict[str, str] | None:
    """The questions the expert answered; my answers when submitted (unanswered left out)."""
    with st.form(key):
        chosen: dict[str, str | None] = {}
        for question in questions:
            labels = {_CHOOSE: "Choose…", **dict(question.choices)}
            chosen[question.question_id] = st.selectbox(
                plain(question.text),
                list(labels),
                format_func=labels.__getitem__,
                key=f"{key}_{question.question_id}",
            )
        submitted = st.form_submit_button("Check my answers", type="primary")
    if not submitted:
        return None
    return {qid: value for qid, value in chosen.items() if value and value != _CHOOSE}


def _verdict(
    protocol: Protocol | None, question_id: str, mine: str | None, expert: str | None, agreed: bool
) -> Agreement:
    if mine is None:
        return NOT_ANSWERED
    if protocol is not None:
        try:
            graded = agreement(protocol.question(question_id), mine, expert)
        except KeyError:
            graded = None
        if graded is not None and (graded in (MAJOR, MINOR) or agreed):
            return graded
    return AGREE if agreed else DIFFERENT


def self_test_result(
    questions: Sequence[BankQuestion], result: SelfTestScore, protocol: Protocol | None
) -> None:
    """The score, then my answers beside the expert's with agreement marks."""
    st.metric("Your score", f"{result.correct} of {result.total} ({result.percent}%)")
    lines = ["| Question | You | Expert | Agreement |", "|---|---|---|---|"]
    for question in questions:
        if question.question_id not in result.per_question:
            continue
        mine, expert, agreed = result.per_question[question.question_id]
        labels = dict(question.choices)
        verdict = _verdict(protocol, question.question_id, mine, expert, agreed)
        lines.append(
            f"| {plain(question.text)} | {plain(labels.get(mine or '', '—'))} | "
            f"{plain(question.expert_answer_label or labels.get(expert or '', '—'))} | "
            f"{badge(verdict)} |"
        )
    st.markdown("\n".join(lines))


def expert_answers_table(questions: Sequence[BankQuestion]) -> None:
    """The expert's answers, with the trainee's read from the meeting beside them."""
    st.dataframe(
        pd.DataFrame(
            {
                "Question": [q.text for q in questions],
                "Expert": [q.expert_answer_label or "—" for q in questions],
                "Trainee at the time": [q.trainee_answer_label or "—" for q in questions],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def coverage_grid(
    counts: Mapping[tuple[str, str], int], protocols: Mapping[str, Protocol]
) -> tuple[list[str], list[str], list[list[int | None]]]:
    """(protocol names, findings, counts per finding row and protocol column) with every
    finding a protocol can have, so empty cells show as 0; None where a finding does not
    belong to the protocol."""
    columns = list(dict.fromkeys([*protocols, *(p for p, _ in counts)]))
    applies: dict[str, set[str]] = {p: set(possible_findings(protocols[p])) for p in protocols}
    for protocol_id, finding in counts:
        applies.setdefault(protocol_id, {NORMAL}).add(finding)
    rows = list(
        dict.fromkeys(f for p in columns for f in sorted_findings(applies[p], protocols.get(p)))
    )
    grid = [[counts.get((p, f), 0) if f in applies[p] else None for p in columns] for f in rows]
    names = [protocols[p].name if p in protocols else p for p in columns]
    return names, rows, grid


def sorted_findings(findings: set[str], protocol: Protocol | None) -> list[str]:
    order = possible_findings(protocol) if protocol else [NORMAL]
    known = [f for f in order if f in findings]
    return known + sorted(findings - set(known))


def _inert(label: str) -> str:
    """Plotly renders a little HTML in labels; an imported case's finding stays text."""
    return label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def coverage_figure(
    protocols: Sequence[str], findings: Sequence[str], grid: Sequence[Sequence[int | None]]
) -> go.Figure:
    """Findings (rows) by protocol (columns); zeros stand out, cells that do not apply stay
    blank. Pure: testable without a page."""
    top = max([n for row in grid for n in row if n is not None] or [1])
    fig = go.Figure(
        go.Heatmap(
            z=[list(row) for row in grid],
            x=[_inert(name) for name in protocols],
            y=[_inert(finding_text(finding)) for finding in findings],
            text=[["" if n is None else str(n) for n in row] for row in grid],
            texttemplate="%{text}",
            colorscale=[
                [0.0, "#f4a6a6"],
                [0.5 / max(top, 1), "#f4a6a6"],
                [min(1.0, 0.5 / max(top, 1) + 1e-6), "#d6e6f5"],
                [1.0, "#08519c"],
            ],
            zmin=0,
            zmax=max(top, 1),
            hoverongaps=False,
            hovertemplate="%{x}<br>%{y}<br>%{z} case(s)<extra></extra>",
            showscale=False,  # the counts are written in the cells
            xgap=2,
            ygap=2,
        )
    )
    fig.update_xaxes(side="top", type="category")
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=max(300, 24 * len(findings) + 80),
    )
    return fig
