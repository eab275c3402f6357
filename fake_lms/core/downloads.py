"""Download jobs: ``POST /api/v1/models/download`` (and, through it, the fake ``lms get``) start
one; it marks its model downloaded in the home when its simulated time is up, unless the test's
script stops it (``fault("download_failed")`` / ``"download_paused"``): then it fails or pauses
that many seconds in, and the model is never marked downloaded."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Home
from fake_lms.scripting.intents import DownloadStop

DEFAULT_FAILURE = "The download failed: the connection to the download server was lost."


@dataclass
class DownloadJob:
    """A simulated download; its progress is a function of the time since it started."""

    job_id: str
    model_key: str
    total_size_bytes: int
    started: float
    duration: float
    finished: bool = False  # the model has been marked downloaded in the home
    stop: DownloadStop | None = None  # a scripted failure or pause

    def stopped(self, now: float) -> bool:
        """The scripted stop has happened (the job is ``failed`` or ``paused`` for good)."""
        return self.stop is not None and now - self.started >= min(self.stop.after, self.duration)

    def done(self, now: float) -> bool:
        return self.stop is None and now - self.started >= self.duration

    def status(self, now: float) -> str:
        """``downloading``, ``completed``, ``failed`` or ``paused``."""
        if self.stop is not None:
            return self.stop.outcome if self.stopped(now) else "downloading"
        return "completed" if self.done(now) else "downloading"

    @property
    def error(self) -> str | None:
        if self.stop is None or self.stop.outcome != "failed":
            return None
        return self.stop.message or DEFAULT_FAILURE

    def downloaded_bytes(self, now: float) -> int:
        if self.done(now):
            return self.total_size_bytes
        elapsed = now - self.started
        if self.stop is not None:
            elapsed = min(elapsed, self.stop.after)
        if self.duration <= 0:
            return 0
        return int(self.total_size_bytes * min(1.0, max(0.0, elapsed / self.duration)))


class DownloadJobs:
    """A server's download jobs. A job marks its model downloaded in the home when its time is up:
    from a timer, and lazily from any reader (listings, status polls), so the model shows up even
    if the timer has not fired yet or nobody polls."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._jobs: dict[str, DownloadJob] = {}
        self._lock = threading.RLock()

    def start(
        self, spec: ModelSpec, stop: Callable[[], DownloadStop | None] | None = None
    ) -> tuple[DownloadJob, bool]:
        """A new job for ``spec`` (``True``), or the one already downloading it (``False``).
        ``stop`` is asked only for a new job: the script's failure or pause for it, if any. A failed
        or paused job is not joined: asking again starts a new one."""
        with self._lock:
            now = time.time()
            for job in self._jobs.values():
                if job.model_key == spec.key and not job.finished and not job.stopped(now):
                    return job, False
            job_id = "job_" + secrets.token_hex(5)
            while job_id in self._jobs:
                job_id = "job_" + secrets.token_hex(5)
            duration = self.home.settings.download_duration(spec)
            job = DownloadJob(job_id, spec.key, spec.size_bytes, now, duration)
            job.stop = stop() if stop is not None else None
            self._jobs[job_id] = job
        if job.stop is not None:
            return job, True
        if duration > 0:
            timer = threading.Timer(duration, self._settle_quietly)
            timer.daemon = True
            timer.start()
        else:
            self.settle(job.started)
        return job, True

    def settle(self, now: float | None = None) -> None:
        """Mark every job whose time is up as downloaded in the home."""
        now = time.time() if now is None else now
        with self._lock:
            for job in self._jobs.values():
                if not job.finished and job.done(now):
                    self.home.mark_downloaded(job.model_key)
                    job.finished = True

    def _settle_quietly(self) -> None:
        try:
            self.settle()
        except Exception:  # the home went away with the server; nothing left to update
            pass

    def get(self, job_id: str, now: float | None = None) -> DownloadJob | None:
        """The job (its model marked downloaded first if its time is up), ``None`` if unknown."""
        self.settle(now)
        return self._jobs.get(job_id)

    def clear(self) -> None:
        """Forget every job: a pending download must not complete into the next test."""
        with self._lock:
            self._jobs.clear()
