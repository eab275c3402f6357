"""A server that trickles its answers: LM Studio's probes answer at once (unless ``--trickle-probes``),
every other request gets
its status line and headers at once and then its body one byte every ``--interval`` seconds (a
streamed answer for a body with ``"stream": true``), for ``--for`` seconds at most, then the
connection is closed. Per-read timeouts never trip on it; only a deadline for the whole request does.

Run as a process of its own (``python tests/_trickle.py``): it prints its root URL on the first line.
:func:`start` does that for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

PROBES = {
    "/lmstudio-greeting": {"lmstudio": True},
    "/lms-status": {"status": "ok", "version": "0.4.4"},
}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return path, await reader.readexactly(length) if length else b""


async def _handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, interval: float, limit: float, probes: bool
) -> None:
    try:
        path, body = await _read_request(reader)
        if path in PROBES and not probes:
            data = json.dumps(PROBES[path]).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
            return
        streamed = b'"stream": true' in body or b'"stream":true' in body
        if path in PROBES:
            payload = json.dumps({**PROBES[path], "padding": "." * 10000}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            )
        elif streamed:
            payload = b'data: {"id":"x","object":"chat.completion.chunk","choices":[]}\n\n' * 1000
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        else:
            payload = json.dumps({"id": "x", "choices": [], "padding": "." * 10000}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            )
        await writer.drain()
        ends = time.monotonic() + limit
        for byte in payload:
            if time.monotonic() >= ends:
                break
            await asyncio.sleep(interval)
            writer.write(bytes([byte]))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _serve(interval: float, limit: float, probes: bool) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, interval, limit, probes), "127.0.0.1", 0, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def start(interval: float, limit: float = 60.0, probes: bool = False) -> tuple[subprocess.Popen[str], str]:
    """The trickling server as a process of its own, and its root URL."""
    flags = ["--trickle-probes"] if probes else []
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--interval", str(interval), "--for", str(limit), *flags],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--for", dest="limit", type=float, default=60.0)
    parser.add_argument("--trickle-probes", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.interval, args.limit, args.trickle_probes))
    except KeyboardInterrupt:
        pass
