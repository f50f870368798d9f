"""The session's price table: the shipped list, editable per browser session.

Other pages price calls with `current_price_table()`; the Metadata & cost page edits it with
`price_table_editor()`. Edits live in this browser session's state only: they are never written
to disk and never seen by another session.
"""

from __future__ import annotations

from typing import Any, cast

import streamlit as st

from core.money.pricing import PRICE_COLUMNS, PriceTable, load_price_table, prices_from_records

PRICES_KEY = "lab.price_table"
EDITOR_KEY = "metadata.price_editor"
EDITOR_BASE_KEY = "metadata.price_editor_base"
PROBLEMS_KEY = "metadata.price_problems"


@st.cache_resource(show_spinner=False)
def shipped_price_table() -> PriceTable:
    """The price list shipped in data/ (immutable, so one copy serves every session)."""
    return load_price_table()


def current_price_table() -> PriceTable:
    """This session's prices: the shipped table until the user edits it."""
    if PRICES_KEY not in st.session_state:
        st.session_state[PRICES_KEY] = shipped_price_table()
    return st.session_state[PRICES_KEY]


def set_price_table(table: PriceTable) -> None:
    st.session_state[PRICES_KEY] = table


def price_table_is_edited() -> bool:
    return current_price_table().rows != shipped_price_table().rows


def reset_price_table() -> None:
    """Back to the shipped prices (a button callback: runs before the editor is drawn)."""
    st.session_state[PRICES_KEY] = shipped_price_table()
    st.session_state.pop(EDITOR_KEY, None)
    st.session_state.pop(EDITOR_BASE_KEY, None)
    st.session_state.pop(PROBLEMS_KEY, None)


COLUMN_CONFIG = {
    "model": st.column_config.TextColumn("model", required=True, width="medium", pinned=True),
    "provider": st.column_config.TextColumn("provider", width="small"),
    **{
        column: st.column_config.NumberColumn(
            column.removesuffix("_per_1m_usd").replace("_", " ") + " $/1M",
            min_value=0.0,
            format="%.4f",
            help="USD per 1M tokens; leave empty when the price list has none.",
        )
        for column in PRICE_COLUMNS[2:]
    },
}


def price_table_editor() -> PriceTable:
    """Draw the editable table and return the (possibly edited) session table.

    The editor's starting data stays fixed while the widget lives (st.data_editor stores edits
    as row/column deltas against it); it is rebuilt from the session table only when the widget
    is new — on first visit, after visiting another page, or after a reset.
    """
    if EDITOR_KEY not in st.session_state or EDITOR_BASE_KEY not in st.session_state:
        st.session_state[EDITOR_BASE_KEY] = current_price_table()
    base: PriceTable = st.session_state[EDITOR_BASE_KEY]
    import pandas as pd  # here: loading it costs every page a second

    frame = pd.DataFrame(base.as_records(), columns=list(PRICE_COLUMNS))
    edited = st.data_editor(
        frame,
        key=EDITOR_KEY,
        num_rows="dynamic",
        hide_index=True,
        column_config=COLUMN_CONFIG,
        height=320,
    )
    # NaN/None → "no such price"; bad rows are reported and left out (so they show "no price").
    records = cast("list[dict[str, Any]]", edited.astype(object).where(edited.notna(), None).to_dict("records"))
    rows, problems = prices_from_records(records)
    table = base.with_rows(rows)
    set_price_table(table)
    st.session_state[PROBLEMS_KEY] = problems
    return table
