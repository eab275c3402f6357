"""One cassette in use: what to do with each request under a record mode, and what to save.

Record modes, in pytest-recording's (vcrpy's) words:

* ``none``: replay only; a request no recorded interaction matches is a miss.
* ``once``: record when the cassette file does not exist yet, otherwise replay only.
* ``new_episodes``: replay what matches, record (and append) what does not.
* ``all``: record every request again; a new exchange replaces the recorded one it matches, the
  rest of the cassette is kept.
* ``rewrite``: record every request again into a cassette started afresh.

Identical requests are answered in recorded order: each interaction is replayed once per session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from fake_lms.replay.cassette import Cassette, CassetteError, Interaction
from fake_lms.replay.drift import Drift, compare
from fake_lms.replay.matching import Matcher, Request, one_line
from fake_lms.replay.redact import Redactor

RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")


@dataclass(frozen=True)
class Miss:
    """A request the cassette cannot answer: its one-line form, and the closest recorded one."""

    request: Request
    cassette: Path | None
    closest: str | None = None  # one line
    diff: tuple[str, ...] = ()
    reason: str = "no recorded request matches it"

    @property
    def line(self) -> str:
        return one_line(self.request)

    def describe(self, record_hint: str | None = None) -> str:
        lines = [f"unmatched request: {self.line}", f"  ({self.reason})"]
        if self.closest is not None:
            lines.append(f"closest recorded request: {self.closest}")
            lines += [f"    {d}" for d in self.diff]
        elif self.cassette is not None and not self.cassette.exists():
            lines.append(f"no cassette at {self.cassette}")
        else:
            lines.append("the cassette has no recorded requests")
        if self.cassette is not None:
            lines.append(f"cassette: {self.cassette}")
        if record_hint:
            lines.append(f"to record it: {record_hint}")
        return "\n".join(lines)


@dataclass
class Outcome:
    """What a finished session did: saved the file or not, misses, drift per re-recorded exchange."""

    saved: Path | None = None
    recorded: int = 0
    replayed: int = 0
    misses: list[Miss] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)


class CassetteSession:
    """Thread-safe: a server answers concurrent requests of one test."""

    def __init__(
        self,
        path: Path,
        mode: str = "none",
        *,
        matcher: Matcher | None = None,
        redactor: Redactor | None = None,
        record_hint: str | None = None,
        autosave: bool = False,
    ) -> None:
        if mode not in RECORD_MODES:
            raise ValueError(f"record mode must be one of {', '.join(RECORD_MODES)}, not {mode!r}")
        self.path = path
        self.mode = mode
        self.redactor = redactor or Redactor()
        self.matcher = matcher or Matcher(redactor=self.redactor)
        self.record_hint = record_hint
        self.autosave = autosave
        self._lock = threading.Lock()
        self.previous: Cassette | None = Cassette.load(path) if path.exists() else None
        self._recorded = self.previous.http() if self.previous is not None else []
        self._used: set[int] = set()
        self._new: list[Interaction] = []
        self._replaced: dict[int, Interaction] = {}  # mode all: recorded index -> new interaction
        self.outcome = Outcome()

    @classmethod
    def open(cls, path: Path, mode: str = "none", **kwargs: object) -> CassetteSession:
        try:
            return cls(path, mode, **kwargs)  # type: ignore[arg-type]
        except (OSError, CassetteError) as exc:
            raise CassetteError(f"cannot open cassette {path}: {exc}") from None

    # -- decisions -------------------------------------------------------------------------------
    @property
    def replays(self) -> bool:
        """Recorded interactions may answer requests."""
        return self.mode in ("none", "new_episodes") or (self.mode == "once" and self.previous is not None)

    @property
    def records(self) -> bool:
        """Requests may go to the upstream LM Studio (a miss is recorded, not refused)."""
        if self.mode == "once":
            return self.previous is None
        return self.mode in ("new_episodes", "all", "rewrite")

    def find(self, req: Request) -> Interaction | None:
        """The next unused recorded interaction matching ``req`` (marked used), if replaying."""
        if not self.replays:
            return None
        with self._lock:
            for index, interaction in enumerate(self._recorded):
                if index not in self._used and self.matcher.matches(interaction, req):
                    self._used.add(index)
                    self.outcome.replayed += 1
                    return interaction
        return None

    def miss(self, req: Request) -> Miss:
        """Record (and return) a miss for ``req``, with the closest recorded request."""
        with self._lock:
            reason = "no recorded request matches it"
            same = [i for i, rec in enumerate(self._recorded) if self.matcher.matches(rec, req)]
            if same:
                reason = (
                    f"the cassette recorded it {len(same)} time(s), and each recording was already replayed"
                )
            found = self.matcher.closest(self._recorded, req)
            if found is None:
                miss = Miss(req, self.path, reason=reason)
            else:
                index, lines = found
                line = one_line(Request.of(self._recorded[index]))
                closest = f"#{index + 1} of {len(self._recorded)}: {line}"
                miss = Miss(req, self.path, closest, tuple(lines), reason)
            self.outcome.misses.append(miss)
            return miss

    def add(self, interaction: Interaction) -> None:
        """A recorded exchange (already redacted by the recorder)."""
        with self._lock:
            self.outcome.recorded += 1
            if self.mode == "all":
                req = Request.of(interaction)
                for index, old in enumerate(self._recorded):
                    if index not in self._replaced and self.matcher.matches(old, req):
                        self._replaced[index] = interaction
                        break
                else:
                    self._new.append(interaction)
            else:
                self._new.append(interaction)
        if self.autosave:
            self.save()

    # -- the end -----------------------------------------------------------------------------------
    def result(self) -> Cassette | None:
        """The cassette to write, or ``None`` when nothing changed."""
        with self._lock:
            if self.outcome.recorded == 0 and not (self.mode == "rewrite" and self.previous is not None):
                return None
            if self.mode == "rewrite":
                return Cassette(list(self._new), self.path)
            kept: list[Interaction] = []
            old = self.previous.interactions if self.previous is not None else []
            http_index = 0
            for interaction in old:
                if interaction.kind == "http":
                    kept.append(self._replaced.get(http_index, interaction))
                    http_index += 1
                else:
                    kept.append(interaction)
            return Cassette(kept + self._new, self.path)

    def save(self) -> Path | None:
        cassette = self.result()
        if cassette is None:
            return None
        saved = cassette.save(self.path, scrub=self.redactor.secrets)
        self.outcome.saved = saved
        return saved

    def drift(self) -> list[Drift]:
        """Re-recorded over an existing cassette (``all``/``rewrite``): how each exchange's answer
        changed, pairing each new exchange with the recorded one it matches, in order."""
        if self.previous is None or self.mode not in ("all", "rewrite"):
            return []
        with self._lock:
            fresh = [*self._replaced.values(), *self._new] if self.mode == "all" else list(self._new)
        old = self.previous.http()
        used: set[int] = set()
        out: list[Drift] = []
        for new in fresh:
            req = Request.of(new)
            for index, rec in enumerate(old):
                if index not in used and self.matcher.matches(rec, req):
                    used.add(index)
                    found = compare(rec, new)
                    if found is not None:
                        out.append(found)
                    break
        return out

    def finish(self) -> Outcome:
        """Save what was recorded (atomically) and compute the drift; returns the outcome."""
        self.outcome.drift = self.drift()
        self.save()
        return self.outcome
