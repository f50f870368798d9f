"""The layers, read from the source's import statements (parsed with `ast`, not searched as text).

`core/` must run without a screen: a runner, a parser or a price table used from a script, a test
or a benchmark never pulls in Streamlit, and never reaches up into `components/` or `pages/`.
And every package the app's code imports is one that `requirements.txt` installs, so a fresh
clone does not work only by the luck of a transitive dependency.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP_SOURCES = ("core", "components", "pages", "app.py")
FIRST_PARTY = {"core", "components", "pages", "tests", "bench"}


def imported_modules(path: Path, package: str) -> Iterator[tuple[int, str]]:
    """Every module `path` imports, anywhere in the file (functions included), as absolute names.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     source = Path(tmp) / "m.py"
        ...     _ = source.write_text("import a.b\\nfrom .c import d\\ndef f():\\n    from x import y\\n")
        ...     sorted(name for _, name in imported_modules(source, "core"))
        ['a.b', 'core.c', 'x']
    """
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""


def python_files(*names: str, root: Path = PROJECT_ROOT) -> Iterator[Path]:
    for name in names:
        path = root / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def package_of(path: Path, root: Path = PROJECT_ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts[:-1])


def forbidden_imports(layer: str, banned: set[str], root: Path = PROJECT_ROOT) -> list[str]:
    """`file:line imports name` for each import in `layer` whose top-level name is in `banned`."""
    found = []
    for path in python_files(layer, root=root):
        for line, module in imported_modules(path, package_of(path, root)):
            if module.split(".")[0] in banned:
                found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return found


def test_core_imports_neither_streamlit_nor_the_layers_above_it() -> None:
    assert forbidden_imports("core", {"streamlit", "components", "pages"}) == []


def test_components_never_import_pages() -> None:
    assert forbidden_imports("components", {"pages"}) == []


def test_the_check_finds_an_import_hidden_in_a_function_and_a_relative_one(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "sneaky.py").write_text(
        "def draw():\n    import streamlit as st\n    st.write('hi')\n"
    )
    (tmp_path / "core" / "upward.py").write_text("from ..components import display\n")
    assert forbidden_imports("core", {"streamlit", "components"}, root=tmp_path) == [
        "core/sneaky.py:2 imports streamlit",
        "core/upward.py:1 imports components",
    ]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements() -> set[str]:
    names = set()
    for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_normalized(re.split(r"[\s=<>!~\[;@]", line, maxsplit=1)[0]))
    return names


def test_every_package_the_app_imports_is_declared_in_requirements_txt() -> None:
    distributions = packages_distributions()
    declared = declared_requirements()
    undeclared: dict[str, str] = {}  # package → the first file importing it
    for path in python_files(*APP_SOURCES):
        for _, module in imported_modules(path, package_of(path)):
            top = module.split(".")[0]
            if not top or top in FIRST_PARTY or top in sys.stdlib_module_names:
                continue
            owners = {_normalized(dist) for dist in distributions.get(top, [top])}
            if not owners & declared:
                undeclared.setdefault(" or ".join(sorted(owners)), str(path.relative_to(PROJECT_ROOT)))
    assert undeclared == {}
