"""Who may open an SDK websocket (spec §3).

Without "require authentication", any (clientIdentifier, clientPasskey) pair may connect, first
come first served: the first connection with an identifier fixes its passkey, and a later one
with the same identifier but another passkey is refused ("Invalid client passkey"), as LM Studio's
server library does. With "require authentication", a pair must spell a known API token
``sk-lm-<identifier>:<passkey>``; the local ``lms`` identifiers are let through [unconfirmed], since
the real ``lms`` cannot send a token. Passkeys are kept only as hashes and never logged.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable

TOKEN_RE = re.compile(r"^sk-lm-[a-zA-Z0-9]{8}:[a-zA-Z0-9]{20}$")
LOCAL_LMS_IDENTIFIERS = frozenset({"lms-cli", "lms-cli-dev"})
INVALID_PASSKEY = "Invalid client passkey"
TOKEN_REQUIRED = "Authentication required: connect with a valid LM Studio API token"


def _digest(passkey: str) -> str:
    return hashlib.sha256(passkey.encode("utf-8", "surrogatepass")).hexdigest()


class Authenticator:
    """Shared by every connection of one server (thread-safe)."""

    def __init__(self, require_auth: Callable[[], bool], token_known: Callable[[str], bool]) -> None:
        self._require_auth = require_auth
        self._token_known = token_known
        self._passkeys: dict[str, str] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Forget every identifier's passkey (``FakeLMStudio.reset()``)."""
        with self._lock:
            self._passkeys.clear()

    def __call__(self, identifier: str, passkey: str) -> str | None:
        if self._require_auth() and identifier not in LOCAL_LMS_IDENTIFIERS:
            token = f"sk-lm-{identifier}:{passkey}"
            if not TOKEN_RE.match(token) or not self._token_known(token):
                return TOKEN_REQUIRED
        digest = _digest(passkey)
        with self._lock:
            known = self._passkeys.setdefault(identifier, digest)
        return None if known == digest else INVALID_PASSKEY
