"""What the plugin prints: the header line and the end-of-run summary."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_lmstudio import readiness
from pytest_lmstudio.rundir import RunDir
from pytest_lmstudio.settings import Settings

if TYPE_CHECKING:
    from pytest_lmstudio.leases import EndOfRun

SKIP_PREFIX = "LM Studio: "


IN_PROCESS_HEADER = "lmstudio: in-process fakes only (lmstudio_fake); no LM Studio needed"


def header(settings: Settings) -> str:
    if settings.mode == "fake":  # the fake picks its own port: the configured URL is not used
        from fake_lms import LMSTUDIO_VERSION

        version = settings.fake_version or LMSTUDIO_VERSION
        line = f"lmstudio: mode=fake (bundled fake LM Studio {version}; it starts when a test needs it)"
        return line + (f" model={settings.model}" if settings.model else "")
    line = f"lmstudio: mode={settings.mode} url={settings.url}"
    if settings.mode in ("live", "auto"):
        found = readiness.probe(settings.url, timeout=0.5)
        if found.up:
            line += f" (LM Studio {found.version or '?'} running)"
        elif settings.mode == "auto":
            line += " (not running: the bundled fake will be used)"
        else:
            line += " (not running" + ("; will try `lms server start`)" if settings.start else ")")
    if settings.model:
        line += f" model={settings.model}"
    return line


def models_line(settings: Settings, marked: list[str]) -> str | None:
    """After collection: the models this run's tests ask for (markers and --lmstudio-model)."""
    models = list(dict.fromkeys([*([settings.model] if settings.model else []), *marked]))
    if not models:
        return None
    return f"lmstudio: models for this run: {', '.join(models)} (loaded once, when first needed)"


def request_stats(home: str | None) -> dict[str, Any] | None:
    """Requests and tokens from the fake's request log (the real LM Studio keeps no such log)."""
    if not home:
        return None
    path = Path(home) / "server-logs" / "requests.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    stats: Counter[str] = Counter()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        stats["requests"] += 1
        stats["prompt_tokens"] += int(record.get("prompt_tokens") or 0)
        stats["completion_tokens"] += int(record.get("completion_tokens") or 0)
    return dict(stats)


def summary_lines(run: RunDir, settings: Settings, skipped: list[Any], done: list[str]) -> list[str]:
    from pytest_lmstudio.models import added_to_fake, failures, loaded_by_run
    from pytest_lmstudio.server import SERVER_FILE

    lines: list[str] = []
    recorded = run.read(SERVER_FILE)
    if recorded and recorded.get("status") == "ok":
        server = recorded["server"]
        version = f", LM Studio {server['version']}" if server.get("version") else ""
        lines.append(f"server: {server['url']} ({server['how']}{version})")
        stats = request_stats(server.get("home"))
        if stats is not None:
            lines.append(
                f"requests: {stats.get('requests', 0)}, tokens: {stats.get('prompt_tokens', 0)} prompt + "
                f"{stats.get('completion_tokens', 0)} completion"
            )
    elif recorded:
        error = recorded["error"]
        if error.get("kind") == "off":
            lines.append("server: none: LM Studio tests are switched off (--lmstudio-mode=off)")
        else:
            lines.append(f"server: none: {error.get('reason') or 'LM Studio is unavailable'}")
            if error.get("detail"):
                lines.append(f"  {error['detail']}")
    models = loaded_by_run(run)
    if models:
        total = sum(m.load_seconds for m in models)
        names = ", ".join(f"{m.identifier} ({m.load_seconds:.2f}s)" for m in models)
        kept = "; kept loaded (--lmstudio-keep-loaded)" if settings.keep_loaded else ""
        lines.append(f"models loaded by this run: {names}; load time {total:.2f}s{kept}")
    added = added_to_fake(run)
    if added:
        lines.append(
            f"models added to the bundled fake (its catalog lacked them; spec guessed from the name): "
            f"{', '.join(added)}"
        )
    for key, error in failures(run).items():
        lines.append(f"model {key}: unavailable: {error.get('reason') or error.get('kind') or 'error'}")
    lines.extend(done)
    groups: dict[str, list[str]] = defaultdict(list)
    for report in skipped:
        reason = _skip_reason(report)
        if reason and reason.startswith(SKIP_PREFIX):
            groups[reason[len(SKIP_PREFIX) :]].append(report.nodeid)
    if groups:
        lines.append("skipped because LM Studio was unavailable:")
        for reason, nodeids in sorted(groups.items(), key=lambda item: -len(item[1])):
            lines.append(f"  {len(nodeids)} test{'s' if len(nodeids) != 1 else ''}: {reason}")
    return lines


def _skip_reason(report: Any) -> str | None:
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text[len("Skipped: ") :] if text.startswith("Skipped: ") else text
    return None


def end_of_run_lines(end: EndOfRun, settings: Settings) -> list[str]:
    """What the run's end did with the models it loaded (models.unload_run_models)."""
    lines = []
    if end.unloaded:
        lines.append(f"unloaded at the end: {', '.join(end.unloaded)}")
    if end.left_in_use:
        names = ", ".join(
            f"{ident} ({n} other run{'s' if n != 1 else ''})" for ident, n in end.left_in_use.items()
        )
        lines.append(f"left loaded for other pytest runs still using them (the last unloads them): {names}")
    if end.left_to_ttl:
        lines.append(
            f"left to LM Studio's idle TTL ({settings.ttl}s), as it is on another machine whose other runs "
            f"cannot be seen from here: {', '.join(end.left_to_ttl)}"
        )
    return lines
