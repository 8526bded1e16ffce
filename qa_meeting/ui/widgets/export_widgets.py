"""Pieces of the export page: the identifier hits, the contact sheets, the push report.

Every user text shown here (excerpts, server reasons, paths) goes into a table or ``st.text``,
never into Markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from qa_meeting.services.dicomweb import PushReport, PushStatus

CONFIRM_LABEL = "I have looked at every frame: no name, number, date or other identifier is visible"
STATUS_LABELS = {
    "blocked": "Blocked",
    "awaiting_confirmation": "Awaiting confirmation",
    "published": "Published",
    "failed": "Failed",
}
_PUSH_LABELS = {
    PushStatus.ACCEPTED: "Stored",
    PushStatus.ALREADY_PRESENT: "Already there",
    PushStatus.FAILED: "Failed",
}


def status_label(status: object) -> str:
    """``ExportStatus`` (or its value, or None) in words for a table."""
    value = str(getattr(status, "value", status or ""))
    return STATUS_LABELS.get(value, "Not prepared" if not value else value.replace("_", " "))


def hits_table(hits: Sequence[object]) -> None:
    """The identifiers found in the case's text: where, what kind, the redacted excerpt."""
    st.dataframe(
        pd.DataFrame(
            {
                "Where": [str(getattr(h, "field", "")).replace("_", " ") for h in hits],
                "Kind": [str(getattr(h, "kind", "")).replace("_", " ") for h in hits],
                "Excerpt (identifier hidden)": [str(getattr(h, "excerpt", "")) for h in hits],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def contact_sheets(sheets: Sequence[tuple[str, Path | None]]) -> bool:
    """Every clip's contact sheet, full width; False when one is missing (cannot confirm)."""
    complete = True
    for title, path in sheets:
        st.markdown(f"**{title}**")
        if path is None or not path.is_file():
            st.warning("The contact sheet of this clip is missing: prepare the export again.")
            complete = False
            continue
        st.image(str(path), width="stretch")
    return complete


def push_report(report: PushReport) -> None:
    """How the push to the DICOMweb image bank ended, instance by instance."""
    failed = report.count(PushStatus.FAILED)
    summary = (
        f"{len(report.instances) - failed} of {len(report.instances)} instance(s) stored "
        f"on {report.server}."
    )
    if failed:
        st.warning(f"{summary} {failed} failed.")
    else:
        st.success(summary)
    st.dataframe(
        pd.DataFrame(
            {
                "File": [Path(i.path).name for i in report.instances],
                "Result": [_PUSH_LABELS.get(i.status, str(i.status)) for i in report.instances],
                "Reason": [i.reason for i in report.instances],
                "SOP Instance UID": [i.sop_instance_uid or "" for i in report.instances],
            }
        ),
        hide_index=True,
        width="stretch",
    )
