"""One colour palette: the views take their colours from components/theme.py, so a colour keeps
one meaning on every page (blue streaming, orange waiting, red failed...)."""

from __future__ import annotations

import re

from tests.conftest import PROJECT_ROOT

HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}\b")


def test_no_view_spells_a_colour_of_its_own() -> None:
    spelled = {
        path.name: HEX_COLOUR.findall(path.read_text(encoding="utf-8"))
        for path in (PROJECT_ROOT / "components").glob("*.py")
        if path.name != "theme.py"
    }
    assert {name: found for name, found in spelled.items() if found} == {}


def test_the_palette_holds_each_colour_once() -> None:
    from components import theme

    colours = {name: value for name, value in vars(theme).items() if isinstance(value, str) and HEX_COLOUR.fullmatch(value)}
    assert len(colours) >= 5
    assert len(set(colours.values())) == len(colours), colours
