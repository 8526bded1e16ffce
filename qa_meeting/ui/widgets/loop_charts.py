"""Plotly charts of the loop figures, each shown with a CSV download of its data."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from qa_meeting.domain.cadence import RCR_MINIMUM_PER_YEAR
from qa_meeting.domain.loops import RATE_CATEGORIES
from qa_meeting.services.loop_figures import TraineeCurve
from qa_meeting.ui.widgets.loop_data import cusum_table

_HEIGHT = 320
_CATEGORY_NAMES = {
    "discordant_major": "Discordant (major)",
    "discordant_minor": "Discordant (minor)",
    "technically_limited": "Technically limited",
    "incomplete_documentation": "Incomplete documentation",
}


def _layout(figure: go.Figure, x: str, y: str) -> go.Figure:
    figure.update_layout(
        height=_HEIGHT,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title=x,
        yaxis_title=y,
        legend={"orientation": "h", "y": -0.25},
    )
    if x.lower().startswith("month"):  # one tick per month, named like "Sep 2026"
        figure.update_xaxes(tickformat="%b %Y", dtick="M1")
    return figure


def show(frame: pd.DataFrame, figure: go.Figure, *, file_name: str, key: str) -> None:
    """The chart, then a button downloading its data as CSV."""
    st.plotly_chart(figure, key=f"chart_{key}", config={"displayModeBar": False})
    st.download_button(
        "Download CSV",
        data=lambda: frame.to_csv(index=False),  # written when clicked, not on every rerun
        file_name=file_name,
        mime="text/csv",
        key=f"csv_{key}",
        icon=":material/download:",
    )


def bar(frame: pd.DataFrame, x: str, y: str, *, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure(go.Bar(x=frame[x], y=frame[y], marker_color="#1565c0"))
    return _layout(figure, x_title, y_title)


def histogram(frame: pd.DataFrame, column: str, *, x_title: str) -> go.Figure:
    figure = go.Figure(go.Histogram(x=frame[column], marker_color="#1565c0"))
    return _layout(figure, x_title, "Scans")


def line(frame: pd.DataFrame, x: str, y: str, *, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure(go.Scatter(x=frame[x], y=frame[y], mode="lines+markers"))
    return _layout(figure, x_title, y_title)


def discordance_lines(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for category in RATE_CATEGORIES:
        figure.add_trace(
            go.Scatter(
                x=frame["month"],
                y=frame[f"{category.value}_percent"],
                mode="lines+markers",
                name=_CATEGORY_NAMES[category.value],
            )
        )
    return _layout(figure, "Month of the scan", "% of reviewed scans")


def cadence_figure(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=frame["as_of"],
            y=frame["meetings_in_12_months"],
            mode="lines+markers",
            name="Meetings held in the 12 months to date",
        )
    )
    figure.add_hline(
        y=RCR_MINIMUM_PER_YEAR,
        line_dash="dash",
        line_color="#c62828",
        annotation_text=f"RCR minimum: {RCR_MINIMUM_PER_YEAR} a year",
    )
    figure.update_yaxes(rangemode="tozero")
    return _layout(figure, "Month end", "Meetings in 12 months")


def attendance_figure(frame: pd.DataFrame) -> go.Figure:
    labels = [
        f"{day} (#{meeting})"
        for day, meeting in zip(frame["held_on"], frame["meeting"], strict=True)
    ]
    figure = go.Figure()
    figure.add_trace(go.Bar(x=labels, y=frame["attendees"], name="Attendees"))
    figure.add_trace(go.Bar(x=labels, y=frame["trainees_attended"], name="Trainees"))
    return _layout(figure, "Meeting", "People")


def cusum_figure(curve: TraineeCurve) -> tuple[pd.DataFrame, go.Figure, str]:
    """One trainee's cumulative and reset curves with the decision limit h, and a file name."""
    frame = cusum_table(curve)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=frame["scan_number"], y=frame["cumulative_cusum"], mode="lines", name="Cumulative"
        )
    )
    figure.add_trace(
        go.Scatter(
            x=frame["scan_number"],
            y=frame["reset_cusum"],
            mode="lines+markers",
            name="Reset at zero (Page)",
        )
    )
    figure.add_hline(
        y=curve.curve.h,
        line_dash="dash",
        line_color="#c62828",
        annotation_text=f"h = {curve.curve.h:.2f}",
    )
    _layout(figure, "Reviewed scan number", "CUSUM")
    safe = "".join(ch if ch.isalnum() else "-" for ch in curve.label).strip("-").lower()
    return frame, figure, f"cusum-{safe or 'trainee'}.csv"


def cusum_chart(curve: TraineeCurve, key: str) -> None:
    """One trainee's learning curve, shown with its CSV download."""
    frame, figure, file_name = cusum_figure(curve)
    show(frame, figure, file_name=file_name, key=key)
