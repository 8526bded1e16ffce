"""The keep-rectangle: an expert drags the part of a frame that may leave the hospital.

Used by the export page for a loop with neither ultrasound regions nor a per-model rule. The
frame is the original's (it never leaves the app); the drag is read as frame_annotator reads
it, from Streamlit's box-selection event over an invisible grid of points. Everything outside
the rectangle is blanked on every frame of the exported loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st

from qa_meeting.domain.deid import Rect
from qa_meeting.ui.widgets.frame_annotator import dragged_points, figure

KEEP_COLOUR = "#00c853"


def rect_from_drag(
    points: Sequence[tuple[float, float]], *, rows: int, columns: int
) -> Rect | None:
    """The whole-pixel rectangle spanned by a drag, cut to the frame; None if it misses it."""
    if len(points) != 2:
        return None
    (xa, ya), (xb, yb) = points
    x0, x1 = sorted((round(xa), round(xb)))
    y0, y1 = sorted((round(ya), round(yb)))
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, columns - 1), min(y1, rows - 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return Rect(x0, y0, x1, y1)


def mask_figure(png: bytes, *, rows: int, columns: int, keep: Rect | None) -> go.Figure:
    """The frame with the keep-rectangle drawn and the rest shaded (pure: testable)."""
    fig = figure(png, rows=rows, columns=columns, annotations=(), regions=())
    if keep is not None:
        shade = {"fillcolor": "black", "opacity": 0.75, "line": {"width": 0}, "layer": "above"}
        bands = [
            (0, 0, columns, keep.y0),  # above
            (0, keep.y1 + 1, columns, rows),  # below
            (0, keep.y0, keep.x0, keep.y1 + 1),  # left
            (keep.x1 + 1, keep.y0, columns, keep.y1 + 1),  # right
        ]
        for x0, y0, x1, y1 in bands:
            if x1 > x0 and y1 > y0:
                fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, **shade)
        fig.add_shape(
            type="rect",
            x0=keep.x0,
            y0=keep.y0,
            x1=keep.x1 + 1,
            y1=keep.y1 + 1,
            line={"color": KEEP_COLOUR, "width": 3},
        )
    return fig


def mask_drawer(
    png: bytes, *, key: str, rows: int, columns: int, saved: Rect | None = None
) -> Rect | None:
    """Show the frame; return the rectangle when the expert saves one, else None."""
    pending_key, version_key = f"{key}_pending", f"{key}_version"
    pending = st.session_state.get(pending_key)
    version = int(st.session_state.get(version_key, 0))
    shown = pending if isinstance(pending, Rect) else saved
    event = st.plotly_chart(
        mask_figure(png, rows=rows, columns=columns, keep=shown),
        # A new key whenever the drawing changes, so the last drag is not read again.
        key=f"{key}_chart_{version}_{shown}",
        on_select="rerun",
        selection_mode="box",
        config={"displayModeBar": False, "scrollZoom": False},
    )
    dragged = rect_from_drag(dragged_points(event), rows=rows, columns=columns)
    if dragged is not None and dragged != pending:
        st.session_state[pending_key] = dragged
        st.rerun()
    st.caption(
        "Drag a box around the ultrasound image: everything outside it is blanked on every "
        "frame. Leave out names, numbers, dates and the clock."
        if shown is None
        else f"Keep-rectangle {shown} (x0, y0, x1, y1 in pixels; frame {columns} x {rows})."
    )
    left, right = st.columns(2)
    if left.button("Clear", key=f"{key}_clear", disabled=not isinstance(pending, Rect)):
        st.session_state.pop(pending_key, None)
        st.rerun()
    ready = isinstance(pending, Rect)
    if right.button("Keep this rectangle", key=f"{key}_save", type="primary", disabled=not ready):
        st.session_state.pop(pending_key, None)
        st.session_state[version_key] = version + 1
        return pending if isinstance(pending, Rect) else None
    return None
