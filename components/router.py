"""The router behind app.py: page config, style, navigation and the shared sidebar."""

from __future__ import annotations

import threading

import streamlit as st

from components.pages import HOME, PATTERN_PAGES, home_page, pattern_page
from components.theme import apply_projector_style

# True while the router runs a page in this script thread (each session has its own thread).
_routing = threading.local()


def run_app(start_page: str = HOME) -> None:
    """Render the sidebar and run the selected page.

    Args:
        start_page: the page shown at the root URL (AppTest opens a page directly this way).
    """
    present = presenter_mode()
    st.set_page_config(
        page_title="Execution Patterns Lab",
        page_icon=":material/science:",
        layout="wide",
        # ?present=1: the settings sidebar starts collapsed, so the page has the whole projector.
        initial_sidebar_state="collapsed" if present else "auto",
    )
    # The process's first element makes Streamlit walk the call stack once (env_util.is_repl),
    # which inspects every module loaded so far: before the app's own imports it costs what it
    # costs a bare app. Then the model starts loading in its own process, then the rest draws.
    apply_projector_style(present=present)
    from components.access import require_access

    pages = {
        "": [home_page(default=start_page == HOME)],
        "Patterns": [pattern_page(p, default=start_page == p.path) for p in PATTERN_PAGES],
    }
    # Served beyond this machine, nothing below draws (and no model starts) until the visitor
    # has typed the access password; without one the lab refuses to serve at all.
    require_access(pages)
    from components.cost_view import session_total_line
    from components.replay_view import show_recording_status
    from components.report_view import report_download_button
    from components.runtime import start_embedded_model, warm_up_imports
    from components.sidebar import render_settings_sidebar, show_network_activity

    start_embedded_model()
    navigation = st.navigation(pages)
    render_settings_sidebar()
    with st.sidebar:
        total_slot = st.empty()
        report_slot = st.empty()
    with total_slot:
        session_total_line()
    _routing.active = True
    try:
        navigation.run()
    finally:
        _routing.active = False
        # Also after st.stop(): the session total and the proxy's counts include the calls
        # this page just made.
        with total_slot:
            session_total_line()
        show_network_activity()
        show_recording_status()
        with report_slot:
            report_download_button()
        warm_up_imports()  # once per process, after the first screen is drawn


PRESENT_KEY = "lab.present"


def presenter_mode() -> bool:
    """`?present=1` in the URL turns presenter mode on for this session (`?present=0` off).

    Kept in the session, and put back into the URL, so moving between pages keeps it.
    """
    wanted = st.query_params.get("present")
    if wanted is not None:
        st.session_state[PRESENT_KEY] = wanted not in ("0", "false", "")
    on = bool(st.session_state.get(PRESENT_KEY, False))
    if on and wanted is None:
        st.query_params["present"] = "1"
    return on


def ensure_router() -> None:
    """Make sure a page runs inside the router; call first thing in every page file.

    On a fresh server Streamlit runs a deep-linked page file directly (its leftover support for
    v1 `pages/` folders) until the process has seen one `st.navigation` call. Then this runs
    the router around the page — which registers the real pages, draws the sidebar and runs this
    file again, inside it — and stops the outer, router-less run.
    """
    if getattr(_routing, "active", False):
        return
    # The URL still names this page, so the router resolves it; Home stays the default.
    run_app()
    st.stop()
