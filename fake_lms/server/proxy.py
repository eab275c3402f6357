"""Forward a request to a real LM Studio (the *upstream*) and relay its answer, recording it.

Only a loopback upstream is accepted unless the caller allows a remote one (the project never
sends anything off the machine unless asked). The request goes out as it came in, minus transport
headers and the cassette header; ``Accept-Encoding: identity`` keeps the body as the client would
read it. An SSE answer is relayed chunk by chunk as it arrives, and cut into events with their
arrival times for the cassette.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from fake_lms.replay.cassette import body_to_data, event_to_data, split_events
from fake_lms.replay.redact import Redactor

HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "accept-encoding",
        "expect",
    }
)
CASSETTE_HEADER = "x-lmstudio-cassette"


class UpstreamRefused(ValueError):
    """The upstream URL is not allowed (not on loopback, and remote upstreams were not allowed)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Upstream:
    """The real LM Studio behind the recording proxy: ``Upstream("http://127.0.0.1:1234")``."""

    def __init__(self, url: str, *, allow_remote: bool = False, timeout: float = 600.0) -> None:
        url = url.rstrip("/")
        if url.endswith("/v1"):
            url = url[: -len("/v1")]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamRefused(f"upstream must be an http(s) URL, not {url!r}")
        if not allow_remote and not is_loopback(parts.hostname):
            raise UpstreamRefused(
                f"upstream {url} is not on this machine; recording sends requests only to loopback "
                "unless remote upstreams are allowed explicitly"
            )
        self.url = url
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), trust_env=False)

    def send(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> httpx.Response:
        """Send the request; the response is open for streaming (the caller closes it)."""
        out = {
            k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != CASSETTE_HEADER
        }
        out["accept-encoding"] = "identity"
        url = self.url + path + (f"?{query_string}" if query_string else "")
        request = self._client.build_request(method, url, headers=out, content=body)
        return self._client.send(request, stream=True)

    def close(self) -> None:
        self._client.close()


def response_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """The upstream's headers as relayed to the client (transport headers are the relay's own)."""
    return [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-encoding", "date")
    ]


def is_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


def recorded_response(
    response: httpx.Response, redactor: Redactor, body: bytes | None, events: list[dict[str, object]] | None
) -> dict[str, object]:
    """The cassette form of an upstream answer (secrets removed)."""
    data: dict[str, object] = {"status": response.status_code, "headers": redactor.headers(response.headers)}
    if events is not None:
        data["stream"] = events
    else:
        body_data = body_to_data(body or b"")
        if "json" in body_data and redactor.extra_fields:
            redacted = redactor.body(body_data["json"], request=False)
            if redacted != body_data["json"]:
                body_data = {"json": redacted}
        if body_data:
            data["body"] = body_data
    return data


def relay_stream(
    response: httpx.Response,
    started: float,
    on_complete: Callable[[list[dict[str, object]]], None],
    on_end: Callable[[], None],
) -> Iterator[bytes]:
    """Yield the upstream's chunks as they arrive; when the stream ended normally, hand its events
    (with times relative to ``started``) to ``on_complete`` *before* the client sees the end."""
    buffer = b""
    events: list[dict[str, object]] = []
    complete = False
    try:
        now = 0.0
        for chunk in response.iter_raw():
            yield chunk
            now = time.monotonic() - started
            buffer += chunk
            done, buffer = split_events(buffer)
            events += [event_to_data(raw, now) for raw in done]
        if buffer:
            events.append(event_to_data(buffer, now))
        complete = True
    finally:
        response.close()
        try:
            if complete:
                on_complete(events)
        finally:
            on_end()
