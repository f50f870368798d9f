"""Who may use the lab, and whose saved runs are whose, when it is served beyond this machine.

On 127.0.0.1 (the default) only this machine reaches the lab: no password, and every saved
job and recording is listed. On any other address everyone who can reach the machine can use
it — spend the environment's keys, read and cancel jobs — so the lab asks each browser for the
access password from `.env` (`LAB_ACCESS_PASSWORD`) before it draws any page, and refuses to
serve without one unless the operator opts out on purpose (`LAB_ALLOW_OPEN=1`). A password set
on a loopback address is asked for too (a reverse proxy on this machine exposes 127.0.0.1).

A lab that is shared this way keeps each visitor's jobs and recordings their own: a visitor is
a random token their browser keeps (a cookie), stored only as its hash (`visitor_id`), so the
data folder never holds what a browser presents.

Run as `python -m core.security.access HOST` (what `make run` does first), it exits with a message when
that host may not be served with the current environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.security.egress import is_loopback_bind

PASSWORD_VAR = "LAB_ACCESS_PASSWORD"
ALLOW_OPEN_VAR = "LAB_ALLOW_OPEN"


@dataclass(frozen=True)
class AccessPolicy:
    """What the lab needs before it serves a visitor, from the host it is bound to and the env.

    Attributes:
        host: the address the server is bound to ("" = every interface).
        password: the access password (never shown or logged), or None when not set.
        allow_open: the operator's explicit opt-out (`LAB_ALLOW_OPEN=1`).
    """

    host: str
    password: str | None
    allow_open: bool

    def __repr__(self) -> str:  # the password never reaches a log through a repr
        return (f"AccessPolicy(host={self.host!r}, password={'set' if self.password else None}, "
                f"allow_open={self.allow_open})")

    @classmethod
    def from_env(cls, env: Mapping[str, str], host: str | None) -> AccessPolicy:
        """The policy for a server on `host` under `env` (a blank password counts as none).

        Example:
            >>> AccessPolicy.from_env({"LAB_ACCESS_PASSWORD": "  "}, "0.0.0.0").password is None
            True
        """
        password = env.get(PASSWORD_VAR, "")
        return cls(
            host=host or "",
            password=password if password.strip() else None,
            allow_open=env.get(ALLOW_OPEN_VAR, "").strip().lower() in ("1", "true", "yes"),
        )

    @property
    def exposed(self) -> bool:
        """Served beyond this machine: other people may reach it."""
        return not is_loopback_bind(self.host)

    @property
    def shared(self) -> bool:
        """Other people may use it (exposed, or a password says so): each visitor's jobs and
        recordings are then their own unless shared on purpose."""
        return self.exposed or self.password is not None

    @property
    def asks_password(self) -> bool:
        return self.password is not None

    @property
    def refusal(self) -> str | None:
        """Why the lab will not serve pages, or None when it may.

        Example:
            >>> AccessPolicy("0.0.0.0", None, False).refusal is not None
            True
            >>> AccessPolicy("0.0.0.0", None, True).refusal, AccessPolicy("127.0.0.1", None, False).refusal
            (None, None)
        """
        if not self.exposed or self.password is not None or self.allow_open:
            return None
        where = self.host or "every network interface"
        return (
            f"This lab is served on {where}, so anyone who can reach this machine could use it: "
            f"spend the keys in its environment, read and cancel saved jobs. Set {PASSWORD_VAR} "
            f"in .env (each visitor is asked for it), or {ALLOW_OPEN_VAR}=1 to serve it open on "
            "purpose, then start it again. `make run` alone serves this machine only."
        )

    def admits(self, typed: str) -> bool:
        """Whether `typed` is the access password (compared in constant time).

        Example:
            >>> policy = AccessPolicy("0.0.0.0", "correct horse", False)
            >>> policy.admits("correct horse"), policy.admits("correct"), policy.admits("")
            (True, False, False)
        """
        if self.password is None:
            return True
        return hmac.compare_digest(typed.encode("utf-8"), self.password.encode("utf-8"))


def visitor_id(token: str) -> str:
    """The id a visitor's saved runs are stored under: a hash of the token their browser keeps,
    so reading the data folder does not give anyone a token to present.

    Example:
        >>> visitor_id("abc") == visitor_id("abc") != visitor_id("abd"), len(visitor_id("abc"))
        (True, 32)
    """
    return hashlib.sha256(f"lab-visitor:{token}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Visitor:
    """One browser's view of the saved runs: its own, plus what others shared on purpose.

    In a lab nobody else uses (`shared` False) every run is everyone's, as on one's own machine.
    """

    id: str
    shared_lab: bool

    def may_see(self, owner: str | None, shared: bool = False) -> bool:
        """Whether this visitor may open a run made by `owner` (`shared`: shared on purpose).

        Example:
            >>> me = Visitor("me", shared_lab=True)
            >>> me.may_see("me"), me.may_see("other"), me.may_see("other", shared=True), me.may_see(None)
            (True, False, True, False)
            >>> Visitor("me", shared_lab=False).may_see("other")
            True
        """
        return not self.shared_lab or owner == self.id or shared

    def may_control(self, owner: str | None) -> bool:
        """Whether this visitor may cancel, retry or share a run: only its owner, in a shared lab."""
        return not self.shared_lab or owner == self.id


def visitor_folders(data_directory: Path, visitor: Visitor) -> tuple[Path, list[Path]]:
    """Where this visitor's recordings go, and every folder whose recordings they are offered.

    On this machine alone both are the data directory, as before visitors existed. In a shared
    lab a visitor's recordings go under `visitors/<id>/` and move to `shared/<id>/` when shared;
    they are offered their own and every shared folder (not the data directory's own
    recordings: those were made before the lab was shared, by nobody who shared them).

    Example:
        >>> own, offered = visitor_folders(Path("/d"), Visitor("ab12", shared_lab=True))
        >>> own.as_posix(), [p.as_posix() for p in offered]
        ('/d/visitors/ab12', ['/d/visitors/ab12'])
    """
    if not visitor.shared_lab:
        return data_directory, [data_directory]
    own = data_directory / "visitors" / visitor.id
    shared_root = data_directory / "shared"
    shared = sorted(p for p in shared_root.iterdir() if p.is_dir()) if shared_root.is_dir() else []
    return own, [own, *shared]


def shared_folder(data_directory: Path, visitor: Visitor) -> Path:
    """Where this visitor's recordings go once shared with every visitor."""
    return data_directory / "shared" / visitor.id


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m core.security.access HOST`: exit 0 when the lab may be served on HOST, else 2 with why."""
    args = list(sys.argv[1:] if argv is None else argv)
    host = args[0] if args else ""
    from dotenv import load_dotenv  # as the app loads .env: the real environment wins

    load_dotenv(os.environ.get("LAB_DOTENV_PATH") or ".env", override=False)
    policy = AccessPolicy.from_env(os.environ, host)
    if policy.refusal:
        print(f"Not serving: {policy.refusal}", file=sys.stderr)
        return 2
    if policy.exposed:
        note = "asks each visitor for LAB_ACCESS_PASSWORD" if policy.asks_password else "OPEN to everyone (LAB_ALLOW_OPEN=1)"
        print(f"Serving on {host or 'every interface'}: reachable from the network; {note}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
