"""The two download buttons of a digest (HTML for e-mail, PDF), side by side, no rerun."""

from __future__ import annotations

import streamlit as st


def show(html: str, pdf: bytes, *, file_stem: str, html_label: str = "Download HTML") -> None:
    """Buttons downloading ``file_stem``.html and ``file_stem``.pdf; a click does not rerun the
    page (the files are already made)."""
    left, right = st.columns(2)
    left.download_button(
        html_label,
        html.encode("utf-8"),
        file_name=f"{file_stem}.html",
        mime="text/html",
        on_click="ignore",
        icon=":material/mail:",
        width="stretch",
    )
    right.download_button(
        "Download PDF",
        pdf,
        file_name=f"{file_stem}.pdf",
        mime="application/pdf",
        on_click="ignore",
        icon=":material/picture_as_pdf:",
        width="stretch",
    )
