"""The still-frame view (plotly): one frame with its annotations; experts add new ones.

Drawing: choose a tool, then drag on the frame. An arrow or a line runs from where the drag
starts to where it ends, an ellipse fills the dragged box, a text label sits where the drag
starts. Streamlit's box-selection event carries the drag's two corners back in image pixels
(an invisible, sparse grid of points gives the selection something to select). The pending
drag lives in session state under this widget's key until it is saved or cleared.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from qa_meeting.domain.annotations import POINTS_NEEDED, AnnotationDraft, AnnotationKind
from qa_meeting.domain.cine import UltrasoundRegion, distance_mm
from qa_meeting.services.frame_annotations import StoredAnnotation

GRID_STEP = 24  # pixels between the invisible selectable points
COLOUR = "#ffb81c"


def figure(
    png: bytes,
    *,
    rows: int,
    columns: int,
    annotations: Sequence[AnnotationDraft],
    regions: Sequence[UltrasoundRegion],
) -> go.Figure:
    """The frame as a plotly figure with its annotations drawn (pure: testable without a page)."""
    fig = go.Figure()
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    fig.add_layout_image(
        source=source, x=0, y=0, sizex=columns, sizey=rows, xref="x", yref="y", layer="below"
    )
    xs, ys = np.meshgrid(np.arange(0, columns, GRID_STEP), np.arange(0, rows, GRID_STEP))
    fig.add_trace(
        go.Scatter(
            x=xs.ravel(),
            y=ys.ravel(),
            mode="markers",
            marker={"size": 4, "opacity": 0},
            hoverinfo="none",
            showlegend=False,
        )
    )
    for draft in annotations:
        _draw(fig, draft, regions)
    fig.update_xaxes(range=[0, columns], visible=False, constrain="domain")
    fig.update_yaxes(range=[rows, 0], visible=False, scaleanchor="x", constrain="domain")
    fig.update_layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        dragmode="select",
        plot_bgcolor="black",
        height=min(720, max(320, rows)),
    )
    return fig


def _draw(fig: go.Figure, draft: AnnotationDraft, regions: Sequence[UltrasoundRegion]) -> None:
    line = {"color": COLOUR, "width": 3}
    if draft.kind is AnnotationKind.TEXT:
        (x, y) = draft.points[0]
        fig.add_annotation(
            x=x, y=y, text=_escape(draft.label), showarrow=False, font={"color": COLOUR, "size": 16}
        )
        return
    (x0, y0), (x1, y1) = draft.points
    if draft.kind is AnnotationKind.ELLIPSE:
        fig.add_shape(type="circle", x0=x0, y0=y0, x1=x1, y1=y1, line=line)
    elif draft.kind is AnnotationKind.ARROW:
        fig.add_annotation(
            x=x1,
            y=y1,
            ax=x0,
            ay=y0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowwidth=3,
            arrowcolor=COLOUR,
            text="",
        )
    else:
        fig.add_shape(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line=line)
        length = distance_mm(regions, (x0, y0), (x1, y1))
        if length is not None:
            fig.add_annotation(
                x=(x0 + x1) / 2,
                y=(y0 + y1) / 2,
                text=f"{length:.1f} mm",
                showarrow=False,
                font={"color": COLOUR, "size": 15},
                yshift=12,
            )
    if draft.label:
        fig.add_annotation(
            x=x1,
            y=y1,
            text=_escape(draft.label),
            showarrow=False,
            yshift=-16,
            font={"color": COLOUR, "size": 14},
        )


def _escape(text: str) -> str:
    """Plotly renders a little HTML in annotation text: show the user's text as text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dragged_points(event: object) -> list[tuple[float, float]]:
    """The start and end of a box-selection drag, as (x, y) pixels; [] when there is none."""
    selection = getattr(event, "selection", None) or {}
    boxes = selection.get("box", [])
    if not boxes:
        return []
    xs, ys = boxes[0].get("x", []), boxes[0].get("y", [])
    if len(xs) != 2 or len(ys) != 2:
        return []
    return [(float(xs[0]), float(ys[0])), (float(xs[1]), float(ys[1]))]


def annotator(
    png: bytes,
    *,
    key: str,
    frame_index: int,
    rows: int,
    columns: int,
    stored: Sequence[StoredAnnotation],
    regions: Sequence[UltrasoundRegion],
    can_draw: bool,
) -> AnnotationDraft | None:
    """Show the frame; return a finished draft when an expert completes one, else None."""
    on_frame = [a.draft for a in stored if a.draft.frame_index == frame_index]
    pending_key = f"{key}_pending"
    pending: list[tuple[float, float]] = st.session_state.setdefault(pending_key, [])
    kind = AnnotationKind.LINE
    if can_draw:
        kind = (
            st.radio(
                "Tool",
                list(AnnotationKind),
                format_func=lambda k: k.value.title(),
                horizontal=True,
                key=f"{key}_tool",
            )
            or AnnotationKind.LINE
        )
    label = ""
    if can_draw:
        label = st.text_input("Label (optional; required for a text label)", key=f"{key}_label")
    preview = (
        [AnnotationDraft(kind, frame_index, tuple(pending[: POINTS_NEEDED[kind]]), label)]
        if len(pending) >= 2
        else []
    )
    fig = figure(
        png, rows=rows, columns=columns, annotations=[*on_frame, *preview], regions=regions
    )
    event = st.plotly_chart(
        fig,
        key=f"{key}_chart_{frame_index}_{len(on_frame)}_{hash(tuple(pending))}",
        on_select="rerun" if can_draw else "ignore",
        selection_mode="box",
        config={"displayModeBar": False, "scrollZoom": False},
    )
    if not can_draw:
        return None
    dragged = dragged_points(event)
    if dragged and dragged != pending:
        pending = dragged
        st.session_state[pending_key] = pending
        st.rerun(scope="fragment")  # show the preview
    needed = POINTS_NEEDED[kind]
    left, right = st.columns(2)
    if left.button("Clear", key=f"{key}_clear", disabled=not pending):
        st.session_state[pending_key] = []
        st.rerun(scope="fragment")
    st.caption(f"Drag on the frame to place the {kind.value}." if not pending else "Ready to save.")
    ready = len(pending) >= 2
    if right.button("Save annotation", key=f"{key}_save", type="primary", disabled=not ready):
        draft = AnnotationDraft(kind, frame_index, tuple(pending[:needed]), label)
        st.session_state[pending_key] = []
        return draft
    return None
