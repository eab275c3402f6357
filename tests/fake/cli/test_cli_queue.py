# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""Issue 14 item 7, the acceptance drill: two concurrent streams to a model loaded with
``--parallel 1``: the second waits, and ``lms ps`` (a real fake ``lms`` subprocess) shows one
generating and one queued meanwhile.

Sources: ``lms ps --json`` reports each instance's ``status`` and ``queued`` (API changelog
0.3.27; spec §4.3: ``queued`` includes the running request); the text table's STATUS column is
the status upper-cased (spec §4.3); ``--parallel`` is lms's "max parallel predictions" (spec
§4.3 ``lms load``); a request goes ``processingPrompt`` → ``generating`` → ``idle`` (observed on
0.4.24, vinzdg/codenotch docs/plans/2026-09-10-lm-studio-provider-plan.md).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

from _waiting import wait_value
from test_cli_support import Lms, home, lms, server  # noqa: F401  (fixtures)

from fake_lms.model.home import Home

MODEL = "google/gemma-3-1b"


class Stream(threading.Thread):
    """One streaming client: a chat completion read frame by frame, with the time of each."""

    def __init__(self, port: int, model: str = MODEL) -> None:
        super().__init__(daemon=True)
        self.port, self.model = port, model
        self.started = self.first_frame = self.finished = 0.0
        self.frames: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            body = {"model": self.model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
            self.started = time.monotonic()
            conn.request(
                "POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            for line in response:
                if line.startswith(b"data: "):
                    if not self.frames:
                        self.first_frame = time.monotonic()
                    self.frames.append(line[6:].strip().decode())
            self.finished = time.monotonic()
            conn.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def ps_row(lms: Lms, identifier: str) -> dict[str, Any]:
    return next(i for i in lms.json("ps", "--json") if i["identifier"] == identifier)


def test_a_second_stream_waits_for_parallel_1_and_lms_ps_shows_it(lms: Lms, home: Home, server) -> None:
    assert lms.run("load", MODEL, "--parallel", "1", "-y").code == 0
    server.reply("one two three four five six", times=2)
    server.stall(after=1, seconds=4)  # the first stream: one token, then 4 s to look at it
    first = Stream(server.port)
    first.start()
    wait_value(lambda: first.frames)
    second = Stream(server.port)
    second.start()
    # both requests are on the instance: one generating, one waiting behind it
    row = wait_value(lambda: (r := ps_row(lms, MODEL))["queued"] == 2 and r)
    assert (row["status"], row["queued"], row["parallel"]) == ("generating", 2, 1)
    assert second.frames == []  # queued: not a byte yet
    table = lms.run("ps")
    line = next(x for x in table.stdout.splitlines() if x.startswith(MODEL))
    assert line.split()[1:3] == [MODEL, "GENERATING"]
    first.join(10)
    second.join(10)
    assert first.error is None and second.error is None
    assert first.frames[-1] == second.frames[-1] == "[DONE]"
    # the second stream's first byte came only once the first stream, stalled 4 s after its first
    # token, had ended (measured from that first token: the clients' own threads race each other)
    assert second.first_frame - first.first_frame >= 3.5
    assert ps_row(lms, MODEL)["status"] == "idle" and ps_row(lms, MODEL)["queued"] == 0
    assert "IDLE" in lms.run("ps").stdout


def test_with_parallel_2_both_streams_run_at_once(lms: Lms, home: Home, server) -> None:
    assert lms.run("load", MODEL, "--parallel", "2", "-y").code == 0
    server.reply("one two three four five six", times=2)
    server.stall(after=1, seconds=3, times=2)
    streams = [Stream(server.port), Stream(server.port)]
    for s in streams:
        s.start()
    wait_value(lambda: all(s.frames for s in streams))
    row = ps_row(lms, MODEL)
    assert (row["status"], row["queued"]) == ("generating", 2)
    for s in streams:
        s.join(10)
    # they overlapped: both began before either's 3 s stall was over
    assert abs(streams[0].first_frame - streams[1].first_frame) < 2.5


def test_without_a_server_every_instance_is_idle(lms: Lms, home: Home) -> None:
    home.load(MODEL)
    row = ps_row(lms, MODEL)
    assert (row["status"], row["queued"]) == ("idle", 0)
    assert "IDLE" in lms.run("ps").stdout


def test_another_homes_server_on_the_configured_port_is_not_asked(lms: Lms, home: Home) -> None:
    from fake_lms import FakeLMStudio

    with FakeLMStudio() as other:  # a different home, busy with the same identifier
        other.home.load(MODEL, config={"parallel": 1})
        other.reply("one two three four five six", times=1)
        other.stall(after=1, seconds=4)
        stream = Stream(other.port)
        stream.start()
        wait_value(lambda: stream.frames)
        home.load(MODEL)
        home.write_server_config(other.port)  # a stale config naming the other server's port
        row = ps_row(lms, MODEL)
        assert (row["status"], row["queued"]) == ("idle", 0)
        stream.join(10)
