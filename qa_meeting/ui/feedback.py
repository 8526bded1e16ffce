"""The one place where refusals are shown to the user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from qa_meeting.errors import QaMeetingError


def show_error(error: QaMeetingError) -> None:
    """Show what went wrong and what to do, as plain text (never HTML)."""
    st.error(f"{error.message}\n\n**What to do:** {error.remedy}", icon=":material/error:")


@contextmanager
def reported_errors() -> Iterator[None]:
    """Run a block; a QaMeetingError is shown, anything else propagates (bugs stay loud)."""
    try:
        yield
    except QaMeetingError as error:
        show_error(error)
