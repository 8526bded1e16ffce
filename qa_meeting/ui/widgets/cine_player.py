"""The cine player: the clip's MP4 played at its stored frame timing, looping.

Play and pause, frame stepping (buttons, slider, arrow keys) and the current frame and time are
handled in the browser against the clip's own frame start times, so stepping lands on real
frames even with variable timing. The video travels inside the page over the signed-in
session (no unauthenticated media URL), cached per file so reruns cost nothing.
"""

from __future__ import annotations

import base64
import json
from importlib.resources import files
from pathlib import Path

import streamlit as st

from qa_meeting.services.media import ClipMedia

_TEMPLATE = "assets/cine_player.html"


@st.cache_data(max_entries=32, show_spinner=False)
def _data_url(path: str, mtime_ns: int) -> str:
    del mtime_ns  # part of the cache key: a rebuilt file gets a new entry
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:video/mp4;base64,{encoded}"


@st.cache_data(max_entries=1, show_spinner=False)
def _template() -> str:
    return (files("qa_meeting.ui.widgets") / _TEMPLATE).read_text(encoding="utf-8")


def player_html(
    media: ClipMedia, *, start_frame: int = 0, paused: bool = False, height: int
) -> str:
    """The player page for one clip (kept separate so tests can check it)."""
    timing = media.timing
    start = max(0, min(start_frame, timing.number_of_frames - 1))
    video_path = str(media.video_path)
    replacements = {
        "__SRC__": _data_url(video_path, media.video_path.stat().st_mtime_ns),
        "__TIMES__": json.dumps([round(t, 3) for t in timing.timestamps_ms]),
        "__DURATION__": f"{timing.duration_ms:.3f}",
        "__LAST__": str(timing.number_of_frames - 1),
        "__START__": str(start),
        "__PAUSED__": "true" if paused else "false",
        "__HEIGHT__": str(height),
    }
    html = _template()
    for marker, value in replacements.items():
        html = html.replace(marker, value)
    return html


def cine_player(
    media: ClipMedia, *, start_frame: int = 0, paused: bool = False, height: int = 480
) -> None:
    """Show the player; ``start_frame`` seeks there (e.g. a reasoning item's frame)."""
    # Our own template filled with numbers and the clip's own video: no user text goes in.
    st.iframe(
        player_html(media, start_frame=start_frame, paused=paused, height=height),
        height=height + 56,
    )
    timing = media.timing
    variable = ", variable timing" if timing.variable_timing else ""
    st.caption(
        f"{timing.number_of_frames} frames · {timing.frames_per_second:.1f} frames/s{variable} "
        f"({timing.frame_rate_source}) · {timing.duration_ms / 1000:.2f} s"
    )
