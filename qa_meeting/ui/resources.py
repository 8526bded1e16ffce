"""Cached process-wide resources: the app context and the protocols.

Keyed by the settings so that tests (and a changed environment) get their own context. Bounded
caches; nothing returned here is mutated by callers.
"""

from __future__ import annotations

import streamlit as st

from qa_meeting.domain.protocols import Protocol
from qa_meeting.services.context import AppContext, build_context
from qa_meeting.services.protocols import load_protocols
from qa_meeting.settings import Settings, load_settings


@st.cache_resource(max_entries=4, show_spinner=False)
def _context_for(settings: Settings) -> AppContext:
    return build_context(settings)


@st.cache_resource(max_entries=4, show_spinner=False)
def _protocols_for(settings: Settings) -> dict[str, Protocol]:
    return load_protocols(settings.protocols_dir)


def app_context() -> AppContext:
    """The context for the current settings (environment and secrets)."""
    return _context_for(load_settings())


def protocols() -> dict[str, Protocol]:
    """Every loaded protocol by id."""
    return _protocols_for(load_settings())
