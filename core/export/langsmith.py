"""LangSmith tracing by the usual variables: load `.env` as LangChain users expect, and say so.

LangChain traces to LangSmith when `LANGSMITH_TRACING=true` and `LANGSMITH_API_KEY` are in the
process environment; `LANGSMITH_PROJECT` and `LANGSMITH_ENDPOINT` choose where. Users put these
in `.env`, so the app loads `.env` into `os.environ` with python-dotenv's `load_dotenv` (the
real environment wins), and the sidebar shows whether tracing is on and to which project —
never the key. Tests and benchmarks switch tracing off with `switch_tracing_off`, whatever the
developer's shell says.

langsmith reads these variables through `functools.lru_cache`d helpers, so whoever changes
them here also clears those caches (`forget_cached_settings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

TRACING_VARS = ("LANGSMITH_TRACING", "LANGSMITH_API_KEY", "LANGSMITH_PROJECT", "LANGSMITH_ENDPOINT")
DEFAULT_PROJECT = "default"
DEFAULT_ENDPOINT = "https://api.smith.langchain.com"
_NAMESPACES = ("LANGSMITH", "LANGCHAIN")


def _get(env: Mapping[str, str], name: str) -> str | None:
    """langsmith's own lookup: LANGSMITH_<name>, then the legacy LANGCHAIN_<name>; blank = unset."""
    for namespace in _NAMESPACES:
        value = env.get(f"{namespace}_{name}")
        if value is not None and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class TracingStatus:
    """Whether LangChain will send traces to LangSmith, and where (never the key itself).

    Attributes:
        enabled: tracing is switched on by the environment.
        project: the LangSmith project runs go to.
        endpoint: the LangSmith API URL.
        has_key: an API key is set (its value is never kept here).
    """

    enabled: bool
    project: str
    endpoint: str
    has_key: bool

    @property
    def problem(self) -> str | None:
        """What stops traces from arriving although tracing is on, in plain words."""
        if self.enabled and not self.has_key:
            return (
                "LANGSMITH_TRACING is true but LANGSMITH_API_KEY is not set: LangSmith will refuse "
                "the traces. Add the key to .env (or the environment) and restart the app."
            )
        return None

    def describe(self) -> str:
        """One line for the sidebar.

        Example:
            >>> TracingStatus(True, "lab-demo", DEFAULT_ENDPOINT, True).describe()
            'LangSmith tracing **on** · project **lab-demo**'
            >>> TracingStatus(False, "default", DEFAULT_ENDPOINT, False).describe()
            'LangSmith tracing off (set LANGSMITH_TRACING=true and LANGSMITH_API_KEY in .env)'
        """
        if not self.enabled:
            return "LangSmith tracing off (set LANGSMITH_TRACING=true and LANGSMITH_API_KEY in .env)"
        where = "" if self.endpoint.rstrip("/") == DEFAULT_ENDPOINT else f" at {self.endpoint}"
        return f"LangSmith tracing **on** · project **{self.project}**{where}"


def tracing_status(env: Mapping[str, str]) -> TracingStatus:
    """Read the tracing variables the way langsmith does (TRACING_V2 first, then TRACING).

    Example:
        >>> s = tracing_status({"LANGSMITH_TRACING": "true", "LANGSMITH_PROJECT": "lab",
        ...                     "LANGSMITH_API_KEY": "lsv2-secret"})
        >>> s.enabled, s.project, s.has_key, "lsv2-secret" in repr(s)
        (True, 'lab', True, False)
        >>> tracing_status({}).enabled
        False
    """
    flag = _get(env, "TRACING_V2") or _get(env, "TRACING") or ""
    project = (
        env.get("HOSTED_LANGSERVE_PROJECT_NAME")
        or _get(env, "PROJECT")
        or _get(env, "SESSION")
        or DEFAULT_PROJECT
    )
    return TracingStatus(
        enabled=flag == "true",
        project=project,
        endpoint=_get(env, "ENDPOINT") or DEFAULT_ENDPOINT,
        has_key=_get(env, "API_KEY") is not None,
    )


def load_env_file(path: str | Path) -> list[str]:
    """Load a `.env` file into `os.environ` with `load_dotenv`; the real environment wins.

    Returns the names of the variables it set (none when the file is missing). When a LangSmith
    or LangChain variable was among them, langsmith's cached reads are cleared so the next call
    sees it.
    """
    if not Path(path).is_file():
        return []
    before = dict(os.environ)
    load_dotenv(path, override=False)
    added = sorted(name for name in os.environ if name not in before)
    if any(name.startswith(_NAMESPACES) for name in added):
        forget_cached_settings()
    return added


def switch_tracing_off(environ: MutableMapping[str, str] | None = None) -> None:
    """No traces leave this process: for tests and benchmarks, whatever the shell exported.

    Every tracing flag (both namespaces, TRACING and TRACING_V2) is removed and
    `LANGSMITH_TRACING=false` set, so child processes (the app under test) inherit it too.
    """
    environ = os.environ if environ is None else environ
    for namespace in _NAMESPACES:
        for suffix in ("TRACING", "TRACING_V2", "API_KEY"):
            environ.pop(f"{namespace}_{suffix}", None)
    environ["LANGSMITH_TRACING"] = "false"
    forget_cached_settings()


def forget_cached_settings() -> None:
    """Clear langsmith's cached environment reads (it caches them with lru_cache)."""
    try:
        from langsmith import utils
    except ImportError:  # langsmith comes with langchain-core; without it nothing is cached
        return
    for name in ("get_env_var", "get_tracer_project"):
        cached = getattr(utils, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
