"""The app's pages, by url path, so pages can link to each other without import cycles.

Streamlit matches a page by the hash of its url path, so a ``st.Page`` rebuilt here is the
same page as the one given to ``st.navigation``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from qa_meeting.services.meeting_queue import CHAIR_ROLES
from qa_meeting.services.scans import STAFF_ROLES


@dataclass(frozen=True)
class PageSpec:
    url_path: str
    title: str
    icon: str
    module: str  # qa_meeting.pages.<module>, which defines render()
    section: str  # the sidebar heading the page is listed under
    roles: frozenset[str] | None = None  # None: every signed-in user

    def visible_to(self, role: str) -> bool:
        """Whether the page is in this role's navigation (the services still check roles)."""
        return self.roles is None or role in self.roles


_SCANS, _MEETING, _AFTER, _BANK = "Scans", "The meeting", "After the meeting", "Image bank"

PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", "Home", ":material/home:", "home_page", _SCANS),
    PageSpec("inbox", "Inbox", ":material/inbox:", "inbox_page", _SCANS),
    PageSpec("review", "Review", ":material/rate_review:", "review_page", _SCANS),
    PageSpec(
        "ward-round", "Ward round", ":material/stethoscope:", "ward_round_page", _SCANS, STAFF_ROLES
    ),
    PageSpec(
        "agenda",
        "Queue & agenda",
        ":material/event_list:",
        "meeting_prep_page",
        _MEETING,
        STAFF_ROLES,
    ),
    PageSpec("meetings", "Meetings", ":material/groups:", "meetings_page", _MEETING, STAFF_ROLES),
    PageSpec("present", "Present", ":material/co_present:", "present_page", _MEETING, CHAIR_ROLES),
    PageSpec("follow", "Follow", ":material/smartphone:", "follow_page", _MEETING),
    PageSpec("digest", "Digest", ":material/summarize:", "digest_page", _AFTER),
    PageSpec("my-feedback", "My feedback", ":material/person_check:", "my_feedback_page", _AFTER),
    PageSpec("loops", "Loop figures", ":material/monitoring:", "loops_page", _AFTER),
    PageSpec("bank", "Image bank", ":material/photo_library:", "bank_page", _BANK),
    PageSpec("export", "Export to bank", ":material/ios_share:", "export_page", _BANK, STAFF_ROLES),
)
_BY_PATH = {spec.url_path: spec for spec in PAGES}


def _render_function(spec: PageSpec) -> Callable[[], None]:
    module = importlib.import_module(f"qa_meeting.pages.{spec.module}")
    render: Callable[[], None] = module.render
    return render


def page(url_path: str) -> st.Page:
    """The ``st.Page`` for a url path in ``PAGES``."""
    spec = _BY_PATH[url_path]
    return st.Page(_render_function(spec), title=spec.title, icon=spec.icon, url_path=url_path)


def go_to(url_path: str, **query: str) -> None:
    """Switch to another page, optionally with query parameters (e.g. study=12)."""
    st.switch_page(page(url_path), query_params=query or None)
