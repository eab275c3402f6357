"""Download jobs: ``POST /api/v1/models/download`` (and, later, the SDK's download channel) start
one; it marks its model downloaded in the home when its simulated time is up."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Home


@dataclass
class DownloadJob:
    """A simulated download; its progress is a function of the time since it started."""

    job_id: str
    model_key: str
    total_size_bytes: int
    started: float
    duration: float
    finished: bool = False  # the model has been marked downloaded in the home

    def done(self, now: float) -> bool:
        return now - self.started >= self.duration

    def downloaded_bytes(self, now: float) -> int:
        if self.done(now):
            return self.total_size_bytes
        return int(self.total_size_bytes * max(0.0, (now - self.started) / self.duration))


class DownloadJobs:
    """A server's download jobs. A job marks its model downloaded in the home when its time is up:
    from a timer, and lazily from any reader (listings, status polls), so the model shows up even
    if the timer has not fired yet or nobody polls."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._jobs: dict[str, DownloadJob] = {}
        self._lock = threading.RLock()

    def start(self, spec: ModelSpec) -> tuple[DownloadJob, bool]:
        """A new job for ``spec`` (``True``), or the one already downloading it (``False``)."""
        with self._lock:
            for job in self._jobs.values():
                if job.model_key == spec.key and not job.finished:
                    return job, False
            job_id = "job_" + secrets.token_hex(5)
            while job_id in self._jobs:
                job_id = "job_" + secrets.token_hex(5)
            duration = self.home.settings.download_duration(spec)
            job = DownloadJob(job_id, spec.key, spec.size_bytes, time.time(), duration)
            self._jobs[job_id] = job
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
