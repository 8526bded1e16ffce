"""Loop figures: is the department's feedback loop working? Definitions are in the README."""

from __future__ import annotations

import streamlit as st

from qa_meeting.services import loop_figures
from qa_meeting.services.loop_figures import PERIODS, LoopFigures
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import loop_charts as charts
from qa_meeting.ui.widgets import loop_data as tables


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{100 * value:.0f}%"


def _reviews(figures: LoopFigures) -> None:
    st.subheader("Share of scans over-read")
    o = figures.overread
    st.metric(
        "Over-read",
        _percent(o.share),
        help="Scans with an expert over-read, of all scans with a trainee read.",
    )
    st.caption(f"{o.count} of {o.of} scans with a trainee read have an expert over-read.")
    if not figures.overread_by_month:
        st.info("No scans in this period.")
        return
    frame = tables.share_table(figures.overread_by_month, "over_read", "scans")
    figure = charts.bar(
        frame, "month", "share_percent", x_title="Month of the scan", y_title="% over-read"
    )
    charts.show(frame, figure, file_name="overread-share.csv", key="overread")


def _feedback_delay(figures: LoopFigures) -> None:
    st.subheader("Days from scan to feedback")
    d = figures.delays
    median = "no data" if d.median_days is None else f"{d.median_days:g} days"
    left, right = st.columns(2)
    left.metric("Median days to over-read", median)
    right.metric("Awaiting over-read", len(d.backlog))
    if d.delays:
        frame = tables.delay_table(d)
        charts.show(
            frame,
            charts.histogram(frame, "days_to_feedback", x_title="Days"),
            file_name="days-to-feedback.csv",
            key="delays",
        )
        weekly = tables.weekly_median_table(d)
        st.markdown("**Median days to feedback, by week of the scan**")
        figure = charts.line(
            weekly, "iso_week", "median_days", x_title="ISO week", y_title="Median days"
        )
        charts.show(weekly, figure, file_name="days-to-feedback-by-week.csv", key="weekly")
    else:
        st.info("No over-read scan with a scan date in this period.")
    if d.backlog:
        st.markdown("**Backlog: scans awaiting their over-read, days waited so far**")
        backlog = tables.backlog_table(d)
        figure = charts.bar(backlog, "scan", "days_waiting", x_title="Scan", y_title="Days waiting")
        figure.update_xaxes(type="category")
        charts.show(backlog, figure, file_name="overread-backlog.csv", key="backlog")


def _positive(figures: LoopFigures) -> None:
    st.subheader("Share of feedback that is positive")
    p = figures.positive
    st.metric(
        "Positive feedback",
        _percent(p.share),
        help="Over-read scans flagged a good spot or given a good-practice teaching point.",
    )
    if not figures.positive_by_month:
        st.info("No over-read in this period.")
        return
    frame = tables.share_table(figures.positive_by_month, "positive", "over_reads")
    figure = charts.bar(
        frame, "month", "share_percent", x_title="Month of the over-read", y_title="% positive"
    )
    charts.show(frame, figure, file_name="positive-feedback.csv", key="positive")


def _discordance(figures: LoopFigures) -> None:
    st.subheader("Discordance over time")
    if not figures.discordance:
        st.info("No reviewed scan in this period.")
        return
    frame = tables.discordance_table(figures.discordance)
    charts.show(
        frame,
        charts.discordance_lines(frame),
        file_name="discordance-by-month.csv",
        key="discordance",
    )


def _variety(figures: LoopFigures) -> None:
    st.subheader("Case variety per trainee")
    st.caption(
        "Protocol x finding cells seen in the trainee's over-read scans, of all the "
        "cells the configured protocols offer."
    )
    if not figures.variety:
        st.info("No over-read scan by a trainee you can see in this period.")
        return
    frame = tables.variety_table(figures.variety)
    figure = charts.bar(
        frame, "trainee", "coverage_percent", x_title="Trainee", y_title="% of cells seen"
    )
    charts.show(frame, figure, file_name="case-variety.csv", key="variety")


def _learning_curves(figures: LoopFigures) -> None:
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
        charts.cusum_chart(trainee, key=f"cusum_{index}")


def _meetings(figures: LoopFigures) -> None:
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
    frame = tables.cadence_table(figures.cadence)
    charts.show(frame, charts.cadence_figure(frame), file_name="meeting-cadence.csv", key="cadence")
    if figures.attendance:
        st.markdown("**Attendance per meeting**")
        attended = tables.attendance_table(figures.attendance)
        charts.show(
            attended,
            charts.attendance_figure(attended),
            file_name="meeting-attendance.csv",
            key="attendance",
        )
    else:
        st.info("No meeting held in this period.")


def render() -> None:
    actor = state.require_actor()
    st.title("Loop figures")
    st.caption("Is feedback reaching the trainees? Dates are the department's local dates.")
    period = st.selectbox("Period", list(PERIODS), index=2, key="loops_period")
    with reported_errors():
        figures = loop_figures.loop_figures(
            resources.app_context(),
            actor,
            months=PERIODS[period],
            protocols=resources.protocols(),
        )
        _reviews(figures)
        _feedback_delay(figures)
        _positive(figures)
        _discordance(figures)
        _variety(figures)
        _learning_curves(figures)
        _meetings(figures)
