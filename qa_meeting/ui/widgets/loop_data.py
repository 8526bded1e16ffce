"""The loop figures as tables: one pandas DataFrame per chart, which is also its CSV download.

Trainees appear only by the label the service gave them (a pseudonym, or "You"). Scans appear
by the app's own scan number; a scan's date leaves the app only as its ISO week, never the day.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from qa_meeting.domain.cadence import AttendanceRow, CadenceRow
from qa_meeting.domain.loops import (
    RATE_CATEGORIES,
    DiscordanceRow,
    FeedbackDelays,
    ShareRow,
    week_of,
)
from qa_meeting.services.loop_figures import TraineeCurve, TraineeVariety


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def share_table(rows: Sequence[ShareRow], count: str, of: str) -> pd.DataFrame:
    """Per month: the count, what it is out of, and the share in per cent."""
    return pd.DataFrame(
        {
            "month": [r.period for r in rows],
            of: [r.of for r in rows],
            count: [r.count for r in rows],
            "share_percent": [_percent(r.share) for r in rows],
        }
    )


def delay_table(delays: FeedbackDelays) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scan": [d.study_id for d in delays.delays],
            "scan_week": [week_of(d.scanned_on) for d in delays.delays],
            "days_to_feedback": [d.days for d in delays.delays],
        }
    )


def weekly_median_table(delays: FeedbackDelays) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "iso_week": [w.week for w in delays.by_week],
            "scans": [w.scans for w in delays.by_week],
            "median_days": [w.median_days for w in delays.by_week],
        }
    )


def backlog_table(delays: FeedbackDelays) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scan": [d.study_id for d in delays.backlog],
            "scan_week": [week_of(d.scanned_on) for d in delays.backlog],
            "days_waiting": [d.days for d in delays.backlog],
        }
    )


def discordance_table(rows: Sequence[DiscordanceRow]) -> pd.DataFrame:
    data: dict[str, list[object]] = {
        "month": [r.month for r in rows],
        "reviewed": [r.reviewed for r in rows],
    }
    for category in RATE_CATEGORIES:
        data[category.value] = [r.counts.get(category.value, 0) for r in rows]
        data[f"{category.value}_percent"] = [_percent(r.rate(category)) for r in rows]
    return pd.DataFrame(data)


def variety_table(rows: Sequence[TraineeVariety]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trainee": [v.label for v in rows],
            "over_read_scans": [v.row.scans for v in rows],
            "protocols_seen": [v.row.protocols_seen for v in rows],
            "cells_seen": [v.row.cells_seen for v in rows],
            "cells_offered": [v.row.cells_offered for v in rows],
            "coverage_percent": [_percent(v.row.coverage) for v in rows],
        }
    )


def cusum_table(curve: TraineeCurve) -> pd.DataFrame:
    points = curve.curve.points
    return pd.DataFrame(
        {
            "trainee": [curve.label] * len(points),
            "scan_number": [p.number for p in points],
            "scanned_on": [p.scanned_on for p in points],
            "discordant": [p.failure for p in points],
            "cumulative_cusum": [round(p.cumulative, 4) for p in points],
            "reset_cusum": [round(p.reset, 4) for p in points],
            "decision_limit_h": [round(curve.curve.h, 4)] * len(points),
        }
    )


def cadence_table(rows: Sequence[CadenceRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": [r.as_of for r in rows],
            "meetings_in_12_months": [r.meetings for r in rows],
            "rcr_minimum": [r.minimum for r in rows],
        }
    )


def attendance_table(rows: Sequence[AttendanceRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "meeting": [r.meeting_id for r in rows],
            "held_on": [r.held_on for r in rows],
            "attendees": [r.attendees for r in rows],
            "trainees_attended": [r.trainees_attended for r in rows],
            "active_trainees": [r.active_trainees for r in rows],
            "trainees_percent": [_percent(r.trainee_share) for r in rows],
        }
    )
