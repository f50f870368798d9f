"""Execution Patterns Lab — entry point: `streamlit run app.py` (or `make run`)."""

from components.router import run_app

run_app()
