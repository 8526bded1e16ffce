"""The room's committed answers, one bar chart per question, the expert's answer highlighted."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qa_meeting.domain.protocols import Protocol

EXPERT_COLOUR = "#2e7d32"
OTHER_COLOUR = "#9e9e9e"
_ROW_HEIGHT = 210
_TITLE_WIDTH = 40


def _title(text: str) -> str:
    """A question as a chart title: wrapped, and inert (plotly reads a few HTML tags)."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "<br>".join(textwrap.wrap(safe, _TITLE_WIDTH)) or " "


def distribution_figure(
    protocol: Protocol,
    distribution: Mapping[str, Mapping[str, int]],
    expert_answers: Mapping[str, str],
    *,
    columns: int = 2,
) -> go.Figure:
    """Per question, how many chose each answer; the expert's answer in green."""
    questions = [q for q in protocol.questions if q.id in distribution]
    rows = max(1, -(-len(questions) // columns))
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[_title(q.text) for q in questions],
        horizontal_spacing=0.18,
        vertical_spacing=min(0.16, 0.7 / rows),
    )
    for index, question in enumerate(questions):
        counts = distribution[question.id]
        values = list(question.allowed_values)
        figure.add_trace(
            go.Bar(
                x=[counts.get(v, 0) for v in values],
                y=[question.answer(v).label for v in values],
                orientation="h",
                marker_color=[
                    EXPERT_COLOUR if expert_answers.get(question.id) == v else OTHER_COLOUR
                    for v in values
                ],
                text=[counts.get(v, 0) for v in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x}<extra></extra>",
                showlegend=False,
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    top = max((n for q in questions for n in distribution[q.id].values()), default=0)
    figure.update_xaxes(rangemode="tozero", dtick=max(1, -(-top // 5)), showgrid=False)
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(
        height=_ROW_HEIGHT * rows,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        font={"size": 15},
        bargap=0.25,
    )
    figure.update_annotations(font_size=15)
    return figure
