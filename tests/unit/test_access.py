"""The door of a lab served beyond this machine (`core.security.access`): what `make run` refuses, and
whose recordings each visitor is offered. The browser side is tests/e2e/test_access_e2e.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.security.access import AccessPolicy, Visitor, shared_folder, visitor_folders
from tests.conftest import PROJECT_ROOT

SECRET = "unit-door-Kx9-horse"


def _make_run_check(host: str, env_file: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """What `make run HOST=...` runs before it starts the server."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return subprocess.run(
        [sys.executable, "-m", "core.security.access", host], cwd=PROJECT_ROOT, capture_output=True, text=True,
        env=clean | {"LAB_DOTENV_PATH": str(env_file)} | env, timeout=60,
    )


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text("")
    return path


def test_make_run_refuses_every_interface_without_a_password_and_says_what_to_set(env_file: Path) -> None:
    for host in ("0.0.0.0", "192.168.1.20", "::", ""):
        refused = _make_run_check(host, env_file)
        assert refused.returncode == 2, host
        assert "LAB_ACCESS_PASSWORD" in refused.stderr and "LAB_ALLOW_OPEN=1" in refused.stderr


def test_make_run_serves_loopback_as_before_and_a_network_address_with_a_password_or_the_opt_out(
    env_file: Path,
) -> None:
    assert _make_run_check("127.0.0.1", env_file).returncode == 0
    assert _make_run_check("localhost", env_file).returncode == 0
    env_file.write_text(f"LAB_ACCESS_PASSWORD={SECRET}\n")  # read from .env, as the app reads it
    with_password = _make_run_check("0.0.0.0", env_file)
    assert with_password.returncode == 0 and "asks each visitor" in with_password.stderr
    assert SECRET not in with_password.stderr + with_password.stdout
    env_file.write_text("")
    opened = _make_run_check("0.0.0.0", env_file, LAB_ALLOW_OPEN="1")
    assert opened.returncode == 0 and "OPEN to everyone" in opened.stderr


def test_the_password_never_shows_in_a_repr_and_is_asked_on_loopback_too_when_set() -> None:
    policy = AccessPolicy.from_env({"LAB_ACCESS_PASSWORD": SECRET}, "127.0.0.1")
    assert SECRET not in repr(policy) and SECRET not in str(policy)
    assert policy.asks_password and policy.shared and not policy.exposed  # e.g. behind a local proxy
    assert policy.admits(SECRET) and not policy.admits(SECRET.upper())
    assert not AccessPolicy.from_env({}, "127.0.0.1").shared


def test_in_a_shared_lab_a_visitor_is_offered_their_own_and_shared_recordings_only(tmp_path: Path) -> None:
    alice, bob = Visitor("a" * 32, shared_lab=True), Visitor("b" * 32, shared_lab=True)
    (tmp_path / "recordings").mkdir()  # made before the lab was shared: nobody's
    alice_home, offered = visitor_folders(tmp_path, alice)
    assert offered == [alice_home] and alice_home != tmp_path
    shared_folder(tmp_path, alice).mkdir(parents=True)  # Alice shared one
    assert visitor_folders(tmp_path, bob)[1] == [visitor_folders(tmp_path, bob)[0], shared_folder(tmp_path, alice)]
    # On this machine alone there is one folder, as before visitors existed.
    assert visitor_folders(tmp_path, Visitor("c" * 32, shared_lab=False)) == (tmp_path, [tmp_path])
