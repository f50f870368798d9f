"""Which key may go to which URL, and what of a URL or a text may be shown.

The rules (README, "Your data and keys"):

* **A key from the environment belongs to its endpoint.** `OPENAI_API_KEY` goes only to OpenAI's
  base URL, `LAB_COMPAT_API_KEY` only to `LAB_COMPAT_BASE_URL`. "The same endpoint" means the same
  origin: scheme, host and port, compared after normalising (lower-case scheme and host, no
  trailing dot, the default port filled in). A visitor who types another Base URL must type that
  host's key too; the operator's key is never sent there.
* **A key typed in a session** goes where that session's field sends it.
* **Userinfo (`user:token@host`) is never shown or stored**: `without_userinfo` strips it from a
  URL, and its parts count among the session's secrets.
* **Redaction replaces the exact secrets the session holds, as whole tokens, and nothing else**
  (`redact_secrets`): a user's prompt that says "Bearer abc.def" stays as it was, and a short key
  such as `test` does not rewrite "testing".

Pure: nothing here reads the environment or imports Streamlit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
#: Secrets shorter than this are not redacted: two or three characters are no secret, and
#: replacing them would rewrite ordinary words and figures.
MIN_SECRET_CHARS = 4
REDACTED = "[redacted]"
# A whole token: the secret is not preceded or followed by a character a key could continue
# with (letters, digits, "_" and "-"), so "test" is replaced in "key=test." but not in "testing".
_TOKEN_CHAR = r"A-Za-z0-9_\-"


def origin(url: str) -> tuple[str, str, int] | None:
    """The (scheme, host, port) a URL sends to, normalised; None when it names no host.

    Example:
        >>> origin("HTTPS://API.OpenAI.com./v1")
        ('https', 'api.openai.com', 443)
        >>> origin("http://user:pw@localhost:11434/v1")
        ('http', 'localhost', 11434)
        >>> origin("localhost:8000") is None
        True
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs send to the same scheme, host and port (paths may differ).

    Example:
        >>> same_origin("http://localhost:11434/v1", "http://LOCALHOST:11434")
        True
        >>> same_origin("https://api.openai.com/v1", "https://api.openai.com.evil.example/v1")
        False
        >>> same_origin("http://host/v1", "https://host/v1")
        False
    """
    left, right = origin(a), origin(b)
    return left is not None and left == right


@dataclass(frozen=True)
class KeyGrant:
    """A key and the URL it may be sent to.

    Attributes:
        key: the key itself (empty = no key from this source).
        for_url: the base URL it belongs to; None for a key typed beside the URL it is used
            with (it goes wherever that field's URL points).
        source: where it came from, in the words a field's help uses ("typed here",
            "OPENAI_API_KEY from the environment").
    """

    key: str
    for_url: str | None
    source: str

    def __repr__(self) -> str:  # never print the key
        return f"KeyGrant(for_url={self.for_url!r}, source={self.source!r})"


def key_for(url: str, grants: Sequence[KeyGrant]) -> KeyGrant | None:
    """The first grant with a key that may be sent to `url`, or None: send no key.

    Example:
        >>> env = KeyGrant("sk-operator", "http://gpu-box:8000/v1", "LAB_COMPAT_API_KEY")
        >>> key_for("http://gpu-box:8000/v1", [KeyGrant("", None, "typed"), env]).source
        'LAB_COMPAT_API_KEY'
        >>> key_for("http://attacker.example/v1", [KeyGrant("", None, "typed"), env]) is None
        True
        >>> key_for("http://attacker.example/v1", [KeyGrant("mine", None, "typed"), env]).key
        'mine'
    """
    for grant in grants:
        if not grant.key.strip():
            continue
        if grant.for_url is None or same_origin(url, grant.for_url):
            return grant
    return None


def without_userinfo(url: str) -> str:
    """`url` without any `user:password@` part: what may be shown, stored or exported.

    Example:
        >>> without_userinfo("https://me:gsk_123@proxy.example:8443/v1")
        'https://proxy.example:8443/v1'
        >>> without_userinfo("http://localhost:11434/v1")
        'http://localhost:11434/v1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO_IN_TEXT.sub(r"\1", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(SplitResult(parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))


_USERINFO_IN_TEXT = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@?#]*@")


def strip_userinfo_in_text(text: str) -> str:
    """Every URL in `text` without its `user:password@` part (for error messages that quote one).

    Example:
        >>> strip_userinfo_in_text("Cannot reach http://u:tok@10.0.0.5:8000/v1/chat now")
        'Cannot reach http://10.0.0.5:8000/v1/chat now'
    """
    return _USERINFO_IN_TEXT.sub(r"\1", text)


def userinfo_secrets(url: str) -> tuple[str, ...]:
    """The secret parts of a URL's userinfo (the password, and `user:password` as written), to
    add to the values redacted everywhere.

    Example:
        >>> userinfo_secrets("https://me:gsk_123@proxy.example/v1")
        ('me:gsk_123', 'gsk_123')
        >>> userinfo_secrets("https://token-only@proxy.example/v1")
        ('token-only',)
        >>> userinfo_secrets("http://localhost/v1")
        ()
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return ()
    if "@" not in netloc:
        return ()
    info = netloc.rpartition("@")[0]
    found: list[str] = []
    user, _, password = info.partition(":")
    for value in (info, password or user, unquote(password or user)):
        if value and value not in found:
            found.append(value)
    return tuple(found)


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret in `text` by "[redacted]", exactly and as a whole token only.

    Secrets shorter than `MIN_SECRET_CHARS` are left alone; longer ones are replaced first, so a
    secret that contains another is removed whole.

    Example:
        >>> redact_secrets("key=test. testing: test", ["test"])
        'key=[redacted]. testing: [redacted]'
        >>> redact_secrets("Bearer abc.def stays; sk-planted goes", ["sk-planted"])
        'Bearer abc.def stays; [redacted] goes'
    """
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        if secret not in text:
            continue
        pattern = rf"(?<![{_TOKEN_CHAR}]){re.escape(secret)}(?![{_TOKEN_CHAR}])"
        text = re.sub(pattern, REDACTED, text)
    return text
