"""Execution Patterns Lab — the router: page config, shared sidebar, navigation."""

from __future__ import annotations

import streamlit as st

from components.pages import HOME, PATTERN_PAGES, home_page, pattern_page
from components.sidebar import render_settings_sidebar, show_network_activity


def main(start_page: str = HOME) -> None:
    """Render the sidebar and run the selected page.

    Args:
        start_page: the page shown at the root URL (tests open a page directly this way).
    """
    st.set_page_config(
        page_title="Execution Patterns Lab",
        page_icon=":material/science:",
        layout="wide",
    )
    navigation = st.navigation(
        {
            "": [home_page(default=start_page == HOME)],
            "Patterns": [pattern_page(p, default=start_page == p.path) for p in PATTERN_PAGES],
        }
    )
    render_settings_sidebar()
    try:
        navigation.run()
    finally:
        # Also after st.stop(): the proxy's counts are part of explaining what happened.
        show_network_activity()


if __name__ == "__main__":
    main()
