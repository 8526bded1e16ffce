"""Widget building blocks that need no page: the player page and the still-frame figure."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from qa_meeting.domain.annotations import AnnotationDraft, AnnotationKind
from qa_meeting.domain.cine import UltrasoundRegion
from qa_meeting.services.media import ClipMedia, ClipTiming
from qa_meeting.ui.widgets.cine_player import player_html
from qa_meeting.ui.widgets.frame_annotator import dragged_points, figure


def _media(tmp_path: Path) -> ClipMedia:
    video = tmp_path / "cine.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    timing = ClipTiming(
        rows=10,
        columns=20,
        timestamps_ms=(0.0, 20.0, 55.0),
        frames_per_second=3 / 0.075,
        duration_ms=75.0,
        variable_timing=True,
        frame_rate_source="FrameTimeVector",
    )
    return ClipMedia(1, video, tmp_path / "thumb.png", timing, built=False)


def test_player_carries_the_clips_own_frame_times(tmp_path: Path) -> None:
    html = player_html(_media(tmp_path), start_frame=7, height=300)
    times = json.loads(html.split("const times = ")[1].split(";")[0])
    assert times == [0.0, 20.0, 55.0]
    assert "const duration = 75.000" in html
    assert 'max="2"' in html and 'value="2"' in html  # start frame clamped to the last one
    assert "data:video/mp4;base64," in html
    assert "__" not in html.split("<script>")[1].replace("__proto__", "")


def _png(rows: int, columns: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((rows, columns), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_figure_draws_each_kind_and_the_length_of_lines() -> None:
    region = UltrasoundRegion(0, 0, 199, 99, 0.1, 0.1, 3, 3, 1, 1)
    drafts = [
        AnnotationDraft(AnnotationKind.LINE, 0, ((0.0, 0.0), (30.0, 40.0))),
        AnnotationDraft(AnnotationKind.ELLIPSE, 0, ((5.0, 5.0), (25.0, 15.0))),
        AnnotationDraft(AnnotationKind.ARROW, 0, ((50.0, 50.0), (60.0, 60.0))),
        AnnotationDraft(AnnotationKind.TEXT, 0, ((70.0, 20.0),), "<b>RV</b>"),
    ]
    fig = figure(_png(100, 200), rows=100, columns=200, annotations=drafts, regions=[region])
    shapes = [shape.type for shape in fig.layout.shapes]
    assert shapes == ["line", "circle"]
    texts = [a.text for a in fig.layout.annotations]
    assert "50.0 mm" in texts  # 50 px at 1 mm per pixel
    assert "&lt;b&gt;RV&lt;/b&gt;" in texts  # user text is never rendered as HTML
    assert any(a.showarrow for a in fig.layout.annotations)
    assert list(fig.layout.yaxis.range) == [100, 0]  # image rows run downwards


def test_dragged_points_keep_the_drag_direction() -> None:
    event = SimpleNamespace(selection={"box": [{"x": [80.0, 10.0], "y": [5.0, 60.0]}]})
    assert dragged_points(event) == [(80.0, 5.0), (10.0, 60.0)]
    assert dragged_points(SimpleNamespace(selection={"box": []})) == []
    assert dragged_points(None) == []
