"""Loop figures: is the department's feedback loop working? Definitions are in the README."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from qa_meeting.services import loop_figures
from qa_meeting.services.context import Actor
from qa_meeting.services.loop_figures import PERIODS, LoopFigures
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import loop_charts as charts
from qa_meeting.ui.widgets import loop_data as tables

Chart = tuple[pd.DataFrame, go.Figure, str]  # the data (its CSV), the chart, the CSV's name


@dataclass(frozen=True)
class _View:
    """The figures with their tables and charts, built once per cache entry (not per rerun)."""

    figures: LoopFigures
    charts: dict[str, Chart]


def _prepare(figures: LoopFigures) -> _View:
    found: dict[str, Chart] = {}
    if figures.overread_by_month:
        frame = tables.share_table(figures.overread_by_month, "over_read", "scans")
        figure = charts.bar(
            frame, "month", "share_percent", x_title="Month of the scan", y_title="% over-read"
        )
        found["overread"] = (frame, figure, "overread-share.csv")
    d = figures.delays
    if d.delays:
        frame = tables.delay_table(d)
        histogram = charts.histogram(frame, "days_to_feedback", x_title="Days")
        found["delays"] = (frame, histogram, "days-to-feedback.csv")
        weekly = tables.weekly_median_table(d)
        figure = charts.line(
            weekly, "iso_week", "median_days", x_title="ISO week", y_title="Median days"
        )
        found["weekly"] = (weekly, figure, "days-to-feedback-by-week.csv")
    if d.backlog:
        backlog = tables.backlog_table(d)
        figure = charts.bar(backlog, "scan", "days_waiting", x_title="Scan", y_title="Days waiting")
        figure.update_xaxes(type="category")
        found["backlog"] = (backlog, figure, "overread-backlog.csv")
    if figures.positive_by_month:
        frame = tables.share_table(figures.positive_by_month, "positive", "over_reads")
        figure = charts.bar(
            frame, "month", "share_percent", x_title="Month of the over-read", y_title="% positive"
        )
        found["positive"] = (frame, figure, "positive-feedback.csv")
    if figures.discordance:
        frame = tables.discordance_table(figures.discordance)
        found["discordance"] = (frame, charts.discordance_lines(frame), "discordance-by-month.csv")
    if figures.variety:
        frame = tables.variety_table(figures.variety)
        figure = charts.bar(
            frame, "trainee", "coverage_percent", x_title="Trainee", y_title="% of cells seen"
        )
        found["variety"] = (frame, figure, "case-variety.csv")
    for index, trainee in enumerate(figures.curves):
        found[f"cusum_{index}"] = charts.cusum_figure(trainee)
    if figures.cadence:
        frame = tables.cadence_table(figures.cadence)
        found["cadence"] = (frame, charts.cadence_figure(frame), "meeting-cadence.csv")
    if figures.attendance:
        frame = tables.attendance_table(figures.attendance)
        found["attendance"] = (frame, charts.attendance_figure(frame), "meeting-attendance.csv")
    return _View(figures, found)


def _show(view: _View, key: str) -> None:
    frame, figure, file_name = view.charts[key]
    charts.show(frame, figure, file_name=file_name, key=key)


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{100 * value:.0f}%"


def _reviews(view: _View) -> None:
    st.subheader("Share of scans over-read")
    o = view.figures.overread
    st.metric(
        "Over-read",
        _percent(o.share),
        help="Scans with an expert over-read, of all scans with a trainee read.",
    )
    st.caption(f"{o.count} of {o.of} scans with a trainee read have an expert over-read.")
    if "overread" not in view.charts:
        st.info("No scans in this period.")
        return
    _show(view, "overread")


def _feedback_delay(view: _View) -> None:
    st.subheader("Days from scan to feedback")
    d = view.figures.delays
    median = "no data" if d.median_days is None else f"{d.median_days:g} days"
    left, right = st.columns(2)
    left.metric("Median days to over-read", median)
    right.metric("Awaiting over-read", len(d.backlog))
    if d.delays:
        _show(view, "delays")
        st.markdown("**Median days to feedback, by week of the scan**")
        _show(view, "weekly")
    else:
        st.info("No over-read scan with a scan date in this period.")
    if d.backlog:
        st.markdown("**Backlog: scans awaiting their over-read, days waited so far**")
        _show(view, "backlog")


def _positive(view: _View) -> None:
    st.subheader("Share of feedback that is positive")
    p = view.figures.positive
    st.metric(
        "Positive feedback",
        _percent(p.share),
        help="Over-read scans flagged a good spot or given a good-practice teaching point.",
    )
    if "positive" not in view.charts:
        st.info("No over-read in this period.")
        return
    _show(view, "positive")


def _discordance(view: _View) -> None:
    st.subheader("Discordance over time")
    if "discordance" not in view.charts:
        st.info("No reviewed scan in this period.")
        return
    _show(view, "discordance")


def _variety(view: _View) -> None:
    st.subheader("Case variety per trainee")
    st.caption(
        "Protocol x finding cells seen in the trainee's over-read scans, of all the "
        "cells the configured protocols offer."
    )
    if "variety" not in view.charts:
        st.info("No over-read scan by a trainee you can see in this period.")
        return
    _show(view, "variety")


def _learning_curves(view: _View) -> None:
    figures = view.figures
    st.subheader("Learning curves (CUSUM)")
    if not figures.curves_visible:
        st.info(
            "The learning curves are shown only to each trainee (their own) and to the "
            "meeting leads (chair and admin)."
        )
        return
    c = figures.cusum
    st.caption(
        f"Bernoulli CUSUM over every reviewed scan: a discordant read (major or minor) is a "
        f"failure. Acceptable rate {c.acceptable_rate:g}, unacceptable {c.unacceptable_rate:g}; "
        f"a success subtracts {c.s:.3f}, a failure adds {1 - c.s:.3f}; the reset chart signals "
        f"at h = {c.h:.2f}."
    )
    if not figures.curves:
        st.info("No reviewed scan yet for a learning curve.")
        return
    for index, trainee in enumerate(figures.curves):
        signal = f": signal at scan {trainee.curve.signal_at}" if trainee.curve.signal else ""
        st.markdown(f"**{trainee.label}**{signal}")
        _show(view, f"cusum_{index}")


def _meetings(view: _View) -> None:
    figures = view.figures
    st.subheader("Meeting cadence and attendance")
    if not figures.cadence:
        st.info("No meeting held yet.")
        return
    latest = figures.cadence[-1]
    st.metric(
        "Meetings held in the last 12 months",
        latest.meetings,
        help="The RCR asks for at least 6 learning meetings a year.",
    )
    _show(view, "cadence")
    if figures.attendance:
        st.markdown("**Attendance per meeting**")
        _show(view, "attendance")
    else:
        st.info("No meeting held in this period.")


@st.cache_resource(max_entries=8, ttl=timedelta(minutes=15), show_spinner=False)
def _view(database: str, version: str, actor: Actor, months: int | None, today: date) -> _View:
    """The figures, computed once per change of the data (``version``), viewer, period and day;
    the time to live bounds how long an edit the fingerprint does not see stays unseen."""
    del database, version  # cache keys only
    figures = loop_figures.loop_figures(
        resources.app_context(), actor, months=months, today=today, protocols=resources.protocols()
    )
    return _prepare(figures)


def render() -> None:
    actor = state.require_actor()
    st.title("Loop figures")
    st.caption("Is feedback reaching the trainees? Dates are the department's local dates.")
    period = st.selectbox("Period", list(PERIODS), index=2, key="loops_period")
    with reported_errors():
        ctx = resources.app_context()
        view = _view(
            ctx.settings.effective_database_url,
            loop_figures.data_version(ctx),
            actor,
            PERIODS[period],
            loop_figures.local_today(ctx),
        )
        _reviews(view)
        _feedback_delay(view)
        _positive(view)
        _discordance(view)
        _variety(view)
        _learning_curves(view)
        _meetings(view)
