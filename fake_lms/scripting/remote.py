"""``ControlClient``: the scripting API of a fake LM Studio *process*, over its control API.

A suite run with ``--lmstudio-mode=fake`` talks to one shared fake process; tests script it over
HTTP on the fake's own port, under :data:`CONTROL_PREFIX` (the endpoints are listed in
``fake_lms.server.control``). The methods are those of ``FakeLMStudio`` (written once, in
:class:`~fake_lms.scripting.methods.ScriptingMethods`).
"""

from __future__ import annotations

from typing import Any

from fake_lms.scripting.methods import ScriptingMethods
from fake_lms.scripting.records import RequestRecord
from fake_lms.scripting.rules import to_json

CONTROL_PREFIX = "/__fake__/"


class ControlError(RuntimeError):
    """The control API refused a request; ``str()`` is the fake's explanation."""


class ControlClient(ScriptingMethods):
    """Script a fake LM Studio process: ``ControlClient("http://127.0.0.1:1234")``.

    The same methods as ``FakeLMStudio`` (``reply``, ``reply_tool_call``, ``reply_json``, ``fail``,
    ``fault`` and its conveniences, ``requests``, ``assert_called_with``...), except that ``match``
    cannot be a Python callable, and ``reset()`` by default keeps the server's state (the run's
    loaded models): pass ``state=True`` to restore settings and loaded models too.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        url = url.rstrip("/")
        if url.endswith("/v1"):
            url = url[: -len("/v1")]
        self.url = url
        self.timeout = timeout

    def _call(self, method: str, name: str, body: Any = None) -> Any:
        import httpx

        try:
            response = httpx.request(  # trust_env=False: loopback requests never go to a proxy
                method,
                f"{self.url}{CONTROL_PREFIX}{name}",
                json=body if method == "POST" else None,
                timeout=self.timeout,
                trust_env=False,
            )
        except httpx.HTTPError as exc:
            raise ControlError(f"cannot reach the fake LM Studio control API at {self.url}: {exc}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            message = data.get("error") if isinstance(data, dict) else response.text
            raise ControlError(f"{method} {CONTROL_PREFIX}{name} -> {response.status_code}: {message}")
        return data

    @staticmethod
    def _portable(entry: dict[str, Any]) -> dict[str, Any]:
        ((op, spec),) = entry.items()
        spec = {k: v for k, v in spec.items() if v is not None or k == "times"}
        if "match" in spec:
            spec["match"] = to_json(spec["match"])
        return {op: spec}

    def _add(self, entry: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "script", self._portable(entry))["rules"][0]
        return result

    def script(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Register several entries at once (all or nothing)."""
        result: list[dict[str, Any]] = self._call("POST", "script", [self._portable(e) for e in entries])[
            "rules"
        ]
        return result

    @property
    def rules(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "script")["rules"]
        return result

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests the fake process received, oldest first (one HTTP call per access)."""
        return [RequestRecord.from_dict(d) for d in self._call("GET", "requests")["requests"]]

    def reset(self, *, state: bool = False) -> None:
        self._call("POST", "reset", {"state": state})

    def cancel(self, ids: list[int]) -> list[dict[str, Any]]:
        """Stop the rules with these ids (the ids ``reply()``, ``fail()``... returned); the
        other rules of the fake, other tests' included, are untouched."""
        result: list[dict[str, Any]] = self._call("POST", "script/cancel", {"ids": list(ids)})["cancelled"]
        return result

    def expire(self, model: str | None = None) -> list[str]:
        result: list[str] = self._call("POST", "expire", {"model": model})["expired"]
        return result

    def refuse_connections(self, seconds: float) -> None:
        """The fake refuses connections for ``seconds``; returns once it does (it answers first,
        then stops listening)."""
        import socket
        import time
        from urllib.parse import urlsplit

        self._call("POST", "refuse", {"seconds": seconds})
        parts = urlsplit(self.url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        deadline = time.monotonic() + min(float(seconds), 2.0)
        while time.monotonic() < deadline:
            try:
                socket.create_connection(address, timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.005)

    def _add_model(self, request: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "models", request)["model"]
        return result

    def configure(self, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "configure", settings)["settings"]
        return result

    def __repr__(self) -> str:
        return f"ControlClient({self.url!r})"


class ScopedControl(ControlClient):
    """The control client of one test on a shared fake process: the rules it registers are
    cancelled by :meth:`close` (``lmstudio_control`` calls it when the test ends) without touching
    other tests' rules, and :attr:`requests` are those received since it was made. Under xdist,
    tests of other workers run at the same time: give each rule a ``match=`` only this test's
    requests meet (a model, a phrase of its prompt)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        import time

        super().__init__(url, timeout=timeout)
        self.since = time.time()
        self.rule_ids: list[int] = []

    def _add(self, entry: dict[str, Any]) -> dict[str, Any]:
        rule = super()._add(entry)
        self.rule_ids.append(int(rule["id"]))
        return rule

    def script(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rules = super().script(entries)
        self.rule_ids.extend(int(rule["id"]) for rule in rules)
        return rules

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests the fake received since this test's control was made, oldest first."""
        data = self._call("GET", f"requests?since={self.since!r}")["requests"]
        return [RequestRecord.from_dict(d) for d in data]

    def reset(self, *, state: bool = False) -> None:
        """This test's rules only (a reset of the whole shared fake would wipe other tests')."""
        if state:
            raise ValueError("a test's control cannot reset the shared fake's state")
        self.close()

    def close(self) -> None:
        if self.rule_ids:
            self.cancel(self.rule_ids)
            self.rule_ids = []
