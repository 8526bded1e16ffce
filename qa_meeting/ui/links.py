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
    roles: frozenset[str] | None = None  # None: every signed-in user

    def visible_to(self, role: str) -> bool:
        """Whether the page is in this role's navigation (the services still check roles)."""
        return self.roles is None or role in self.roles


PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", "Home", ":material/home:", "home_page"),
    PageSpec("inbox", "Inbox", ":material/inbox:", "inbox_page"),
    PageSpec("review", "Review", ":material/rate_review:", "review_page"),
    PageSpec("ward-round", "Ward round", ":material/stethoscope:", "ward_round_page", STAFF_ROLES),
    PageSpec("agenda", "Queue & agenda", ":material/event_list:", "meeting_prep_page", STAFF_ROLES),
    PageSpec("meetings", "Meetings", ":material/groups:", "meetings_page", STAFF_ROLES),
    PageSpec("present", "Present", ":material/co_present:", "present_page", CHAIR_ROLES),
    PageSpec("follow", "Follow", ":material/smartphone:", "follow_page"),
    PageSpec("digest", "Digest", ":material/summarize:", "digest_page"),
    PageSpec("my-feedback", "My feedback", ":material/person_check:", "my_feedback_page"),
    PageSpec("loops", "Loop figures", ":material/monitoring:", "loops_page"),
    PageSpec("bank", "Image bank", ":material/photo_library:", "bank_page"),
    PageSpec("export", "Export to bank", ":material/ios_share:", "export_page", STAFF_ROLES),
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
