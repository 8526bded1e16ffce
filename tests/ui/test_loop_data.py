"""The loop figures' CSV tables: what leaves the app in a download."""

from __future__ import annotations

import re
from datetime import date

from qa_meeting.domain.loops import Delay, FeedbackDelays, WeekMedian
from qa_meeting.ui.widgets.loop_data import backlog_table, delay_table

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def test_scan_delays_leave_as_iso_weeks_never_as_days() -> None:
    delays = FeedbackDelays(
        delays=[Delay(7, date(2026, 11, 3), 2), Delay(9, date(2026, 11, 10), 5)],
        median_days=3.5,
        by_week=[WeekMedian("2026-W45", 1, 2.0), WeekMedian("2026-W46", 1, 5.0)],
        backlog=[Delay(12, date(2026, 11, 20), 9)],
    )
    delay_csv = delay_table(delays).to_csv(index=False)
    backlog_csv = backlog_table(delays).to_csv(index=False)

    assert delay_csv.splitlines() == [
        "scan,scan_week,days_to_feedback",
        "7,2026-W45,2",
        "9,2026-W46,5",
    ]
    assert backlog_csv.splitlines() == ["scan,scan_week,days_waiting", "12,2026-W47,9"]
    assert not DAY.search(delay_csv + backlog_csv)
