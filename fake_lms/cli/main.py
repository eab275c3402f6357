"""The fake ``lms`` command: ``python -m fake_lms <subcommand>`` or the ``lms`` launcher
(:func:`fake_lms.cli.launcher.install_lms`).

It works on the fake LM Studio home named by ``LMS_FAKE_HOME`` (the directory ``python -m fake_lms
serve --home`` uses) and refuses to run without one, so it can never touch a real LM Studio. Output
streams, texts and exit codes follow real ``lms`` (spec §4); every invocation is appended to
``<home>/server-logs/lms-invocations.jsonl`` (arguments, exit code, time, duration; never the
environment).

The command table below is all this module knows about subcommands: each handler lives in a
``fake_lms.cli.*`` module that is imported only when its command runs, which keeps a typical
command (``lms ps --json``) well under 150 ms.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from fake_lms.cli.args import (
    PORT,
    Command,
    HelpRequested,
    Option,
    Parsed,
    UsageError,
    help_text,
    parse,
    refined_number,
)
from fake_lms.cli.context import Ctx, HomeNotConfigured, open_home
from fake_lms.cli.output import LOG_LEVELS, Console, Logger, Style, colour_enabled
from fake_lms.cli.probe import CliExit
from fake_lms.model.home import Home

__all__ = ["PROGRAM", "main"]

# -- the command table -----------------------------------------------------------------------------


def _log_options() -> list[Option]:
    return [
        Option("--log-level <level>", "The level of logging to use", choices=LOG_LEVELS, hidden=True),
        Option("--quiet", "Suppress all logging", hidden=True),
        Option("--verbose", "Enable verbose logging", hidden=True),
    ]


def _client_options() -> list[Option]:
    return [
        Option("--host <host>", "Connect to the LM Studio instance at this host", hidden=True),
        Option("--port <port>", "The port where LM Studio can be reached", parse=PORT, hidden=True),
    ]


def _gpu(text: str) -> float:
    from fake_lms.cli.args import InvalidArgument, js_number

    value = text.strip().lower()
    if value == "off":
        return 0.0
    if value == "max":
        return 1.0
    num = js_number(value)
    if num != num:
        raise InvalidArgument("Not a number")
    if num < 0 or num > 1:
        raise InvalidArgument("Number out of range, must be between 0 and 1")
    return num


def _unsupported(name: str, description: str, group: str | None = None, hidden: bool = False) -> Command:
    return Command(
        name,
        description,
        handler="fake_lms.cli.main:unsupported",
        group=group,
        hidden=hidden,
        passthrough=True,
    )


LOCAL = "Local models"
SERVE = "Serve"
POSITIVE_INT = refined_number(integer=True, minimum=1)

PROGRAM = Command(
    "lms",
    "",
    subcommands=[
        Command(
            "chat",
            "Start an interactive chat with a model",
            arguments=["[model]"],
            argument_help={"[model]": "Model name to use"},
            options=[
                Option("-p, --prompt <prompt>", "Print response to stdout and quit"),
                Option("-s, --system-prompt <systemPrompt>", "Custom system prompt to use for the chat"),
                Option("--stats", "Display detailed prediction statistics after each response"),
                Option(
                    "--ttl <ttl>",
                    "Time (in seconds) to keep the model loaded after the chat ends",
                    parse=POSITIVE_INT,
                    default=3600,
                ),
                Option(
                    "--reasoning <mode>",
                    "Reasoning mode for this chat session",
                    choices=("auto", "on", "off"),
                    default="auto",
                ),
                Option("--dont-fetch-catalog", "Skip fetching the model catalog"),
                Option("-y, --yes", "Assume 'yes' as answer to all CLI prompts"),
                *_client_options(),
                *_log_options(),
            ],
            handler="fake_lms.cli.chat:chat",
            group=LOCAL,
        ),
        Command(
            "get",
            "Search and download local models or Hub artifacts",
            arguments=["[name]"],
            argument_help={"[name]": 'The model or Hub artifact to download, e.g. "openai/gpt-oss-20b"'},
            options=[
                Option("--mlx", "Restrict model resolution to MLX-compatible options"),
                Option("--gguf", "Restrict model resolution to GGUF-compatible options"),
                Option("-y, --yes", "Automatically approve all prompts. Useful for scripting."),
                Option("--select", "Open variant selection before downloading"),
                *_client_options(),
                *_log_options(),
            ],
            handler="fake_lms.cli.get:get",
            group=LOCAL,
        ),
        Command(
            "load",
            "Load a model",
            arguments=["[model-key]"],
            argument_help={"[model-key]": "The model key to load"},
            options=[
                Option("--gpu <offload-ratio>", 'GPU offload ratio: "off", "max" or 0..1', parse=_gpu),
                Option("-c, --context-length <length>", "The context length, in tokens", parse=POSITIVE_INT),
                Option("--parallel <count>", "Maximum number of parallel predictions", parse=POSITIVE_INT),
                Option(
                    "--ttl <seconds>", "Unload the model after this many idle seconds", parse=POSITIVE_INT
                ),
                Option("--speculative-draft-mtp", "Enable Draft MTP speculative decoding"),
                Option("--no-speculative-draft-mtp", "Disable Draft MTP speculative decoding"),
                Option("--speculative-draft-simple", "Enable Draft Simple speculative decoding"),
                Option("--speculative-draft-model <model>", "Draft model for --speculative-draft-simple"),
                Option(
                    "--speculative-draft-max-tokens <count>",
                    "Maximum draft tokens per step",
                    parse=POSITIVE_INT,
                ),
                Option(
                    "--speculative-draft-min-tokens <count>",
                    "Minimum draft length",
                    parse=refined_number(integer=True, minimum=0),
                ),
                Option(
                    "--speculative-draft-min-continue-probability <probability>",
                    "Continue drafting at or above this token probability",
                    parse=refined_number(minimum=0, maximum=1),
                ),
                Option("--exact", "The argument is an exact model path", hidden=True),
                Option("--local", "Only use models available locally", hidden=True),
                Option("--identifier <identifier>", "The identifier to assign to the loaded model"),
                Option("--estimate-only", "Estimate the resources needed; do not load"),
                Option("-y, --yes", "Automatically approve all prompts. Useful for scripting."),
                *_client_options(),
                *_log_options(),
            ],
            handler="fake_lms.cli.load:load",
            group=LOCAL,
        ),
        Command(
            "unload",
            "Unload a model",
            arguments=["[identifier]"],
            argument_help={"[identifier]": "The identifier of the model to unload"},
            options=[Option("-a, --all", "Unload all models"), *_client_options(), *_log_options()],
            handler="fake_lms.cli.load:unload",
            group=LOCAL,
        ),
        Command(
            "ls",
            "List the models available on disk",
            arguments=["[modelKey]"],
            argument_help={"[modelKey]": "Show variants for the provided model key"},
            options=[
                Option("--llm", "Show only LLM models"),
                Option("--embedding", "Show only embedding models"),
                Option("--detailed", "[Deprecated] Show detailed view with grouping"),
                Option("--variants", "Show variants for all models"),
                Option("--json", "Outputs in JSON format to stdout"),
                *_client_options(),
                *_log_options(),
            ],
            handler="fake_lms.cli.list:ls",
            group=LOCAL,
        ),
        Command(
            "ps",
            "List the models currently loaded in memory",
            options=[
                Option("--json", "Outputs in JSON format to stdout"),
                *_client_options(),
                *_log_options(),
            ],
            handler="fake_lms.cli.list:ps",
            group=LOCAL,
        ),
        _unsupported("import", "Import a model file into LM Studio", LOCAL),
        Command(
            "server",
            "Commands for managing the local server",
            group=SERVE,
            subcommands=[
                Command(
                    "start",
                    "Starts the local server",
                    options=[
                        Option("-p, --port <port>", "Port to run the server on", parse=PORT),
                        Option("--bind <address>", "Network address to bind the server to"),
                        Option("--cors", "Enable CORS on the server"),
                        *_log_options(),
                    ],
                    handler="fake_lms.cli.server:server_start",
                ),
                Command(
                    "stop",
                    "Stops the local server",
                    options=_log_options(),
                    handler="fake_lms.cli.server:server_stop",
                ),
                Command(
                    "status",
                    "Displays the status of the local server",
                    options=[
                        Option("--json", "Outputs the status in JSON format to stdout."),
                        *_log_options(),
                    ],
                    handler="fake_lms.cli.server:server_status",
                ),
            ],
        ),
        Command(
            "log",
            "Log incoming and outgoing messages",
            group=SERVE,
            subcommands=[
                Command(
                    "stream",
                    "Stream logs from LM Studio",
                    options=[
                        Option("--json", "Outputs in JSON format, separated by newline"),
                        Option("--stats", "Print prediction stats if available"),
                        Option(
                            "-s, --source <source>",
                            "Source of logs: 'model', 'server', or 'runtime'",
                            choices=("model", "server", "runtime"),
                            default="model",
                        ),
                        Option("--filter <filter>", "Filter for model source: 'input', 'output'"),
                        Option(
                            "--once", "Print the events logged so far and exit (fake lms only)", hidden=True
                        ),
                        Option(
                            "--from-start", "Follow from the start of the log (fake lms only)", hidden=True
                        ),
                        *_client_options(),
                        *_log_options(),
                    ],
                    handler="fake_lms.cli.log:stream",
                )
            ],
        ),
        Command(
            "link",
            "Commands for managing LM Link",
            group="Remote Instances",
            subcommands=[
                _unsupported("enable", "Enable LM Link on this device"),
                _unsupported("disable", "Disable LM Link on this device"),
                Command(
                    "status",
                    "Display the status of LM Link",
                    options=[
                        Option("--json", "Outputs the status in JSON format to stdout."),
                        *_client_options(),
                        *_log_options(),
                    ],
                    handler="fake_lms.cli.link:status",
                ),
                _unsupported("set-device-name", "Set the name of this device in LM Link"),
                _unsupported("set-preferred-device", "Set the preferred device for LM Link"),
            ],
        ),
        Command(
            "runtime",
            "Manage and update the inference runtime",
            group="Runtime",
            subcommands=[
                Command(
                    "ls",
                    "List installed LLM engines",
                    options=[*_client_options(), *_log_options()],
                    handler="fake_lms.cli.runtime:ls",
                ),
                *[
                    _unsupported(name, desc)
                    for name, desc in (
                        ("select", "Select installed LLM engines"),
                        ("remove", "Remove installed LLM engines"),
                        ("update", "Update installed LLM engines"),
                        ("get", "Download LLM engines"),
                        ("survey", "Survey hardware compatibility of LLM engines"),
                    )
                ],
            ],
        ),
        *[
            _unsupported(name, desc, "Develop & Publish (Beta)")
            for name, desc in (
                ("clone", "Clone an artifact from LM Studio Hub to a local folder"),
                ("push", "Uploads the artifact in the current folder to LM Studio Hub"),
                ("dev", "Starts a plugin dev server in the current folder"),
                ("login", "Authenticate with LM Studio Hub"),
                ("logout", "Log out of LM Studio Hub"),
                ("whoami", "Check the current authentication status"),
            )
        ],
        _unsupported("create", "Create a new project with scaffolding", hidden=True),
        _unsupported("bootstrap", "Bootstrap the CLI", hidden=True),
        Command(
            "daemon",
            "Commands for managing the LM Studio daemon",
            hidden=True,
            subcommands=[
                Command(
                    "up",
                    "Manually start the llmster daemon",
                    options=[Option("--json", "Output result in JSON format"), *_log_options()],
                    handler="fake_lms.cli.daemon:up",
                ),
                Command(
                    "down",
                    "Manually shutdown the llmster daemon",
                    options=_log_options(),
                    handler="fake_lms.cli.daemon:down",
                ),
                Command(
                    "status",
                    "Check the status of the LM Studio daemon",
                    options=[Option("--json", "Output status in JSON format"), *_log_options()],
                    handler="fake_lms.cli.daemon:status",
                ),
                _unsupported("update", "Update the llmster daemon"),
            ],
        ),
        _unsupported("flags", "Manage feature flags", hidden=True),
        Command(
            "status",
            "Prints the status of LM Studio",
            options=[*_client_options(), *_log_options()],
            handler="fake_lms.cli.server:status",
            hidden=True,
        ),
        Command(
            "version",
            "Prints the version of the CLI",
            options=[Option("--json", "Prints the version in JSON format")],
            handler="fake_lms.cli.version:version",
            hidden=True,
        ),
    ],
)


def unsupported(ctx: Ctx) -> int:
    name = ctx.opts.get("_command", "this command")
    ctx.logger.error(
        f"`lms {name}` is not supported by the fake lms (pytest-lmstudio). Supported: chat, get, load, "
        "unload, ls, ps, server start|stop|status, log stream, daemon up|down|status, runtime ls, "
        "link status, status, version."
    )
    return 1


# -- running ---------------------------------------------------------------------------------------


class _Terminated(Exception):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def _make_logger(parsed: Parsed, console: Console, style: Style) -> Logger:
    opts = parsed.options
    level = opts.get("log_level")
    verbose = bool(opts.get("verbose"))
    quiet = bool(opts.get("quiet"))
    if sum((level is not None, verbose, quiet)) > 1:
        raise UsageError(
            f"Only one of {style.yellow('--logLevel')}, {style.yellow('--verbose')}, or "
            f"{style.yellow('--quiet')} can be specified."
        )
    if quiet:
        level = "none"
    if verbose:
        level = "debug"
    return Logger(console, style, level or "info", verbose=verbose)


def _dispatch(args: list[str], console: Console, style: Style, home: Home, seen: dict[str, str]) -> int:
    if not args:  # the compact banner, then commander's help for a missing subcommand
        from fake_lms.cli.version import print_compact

        print_compact(console, style)
        console.out()
        console.write_err(help_text(PROGRAM))
        return 1
    if "-v" in args or "--version" in args:
        from fake_lms.cli.version import COMMIT

        console.out("CLI commit: " + COMMIT)
        return 0
    try:
        parsed = parse(PROGRAM, args)
    except HelpRequested as help_:
        (console.write_err if help_.to_stderr else console.write_out)(help_.text)
        return help_.exit_code
    except UsageError as exc:
        console.err(str(exc))
        return 1
    seen["command"] = parsed.name
    if parsed.command.passthrough:
        parsed.options["_command"] = parsed.name
    try:
        logger = _make_logger(parsed, console, style)
    except UsageError as exc:
        console.err(str(exc))
        return 1
    module_name, _, function = (parsed.command.handler or "").partition(":")
    handler = getattr(importlib.import_module(module_name), function)
    ctx = Ctx(parsed.options, parsed.arguments, console, style, logger, home)
    return int(handler(ctx) or 0)


def _record(home: Home, record: dict[str, Any]) -> None:
    try:
        home.append_jsonl(home.lms_log_file, record)
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``lms`` command; returns its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    style = Style(colour_enabled(console.stdout))
    try:
        home = open_home()
    except HomeNotConfigured as exc:
        console.err(style.red_bright("Error:"), str(exc))
        return 1
    started = time.time()
    clock = time.perf_counter()
    code, killed_by = 1, None
    seen = {"command": ""}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # Node restores every signal's default at startup, so real lms stops on Ctrl-C even when its
    # parent ignored SIGINT (a background job of a non-interactive shell, some CI runners).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            code = _dispatch(args, console, style, home, seen)
        except CliExit as exc:
            code = exc.code
        except _Terminated:
            killed_by = signal.SIGTERM
        except KeyboardInterrupt:
            killed_by = signal.SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        record: dict[str, Any] = {
            "time": round(started, 6),
            "argv": args,
            "command": seen["command"],
            "exit_code": -int(killed_by) if killed_by is not None else code,
            "duration_ms": round((time.perf_counter() - clock) * 1000, 3),
            "pid": os.getpid(),
        }
        if killed_by is not None:
            record["signal"] = killed_by.name
        _record(home, record)
    if killed_by is not None:  # die of the signal, as Node does, so callers see -SIGTERM / -SIGINT
        signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
        return 128 + int(killed_by)  # pragma: no cover - only reached where the signal was ignored
    return code


if __name__ == "__main__":
    sys.exit(main())
