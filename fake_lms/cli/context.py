"""What every fake ``lms`` subcommand receives: parsed options, the output streams, the logger, and
the fake LM Studio home named by ``LMS_FAKE_HOME``."""

from __future__ import annotations

import os
from typing import Any

from fake_lms.cli.output import Console, Logger, Style
from fake_lms.cli.probe import create_client
from fake_lms.model.catalog import Catalog
from fake_lms.model.home import Home

HOME_ENV = "LMS_FAKE_HOME"


class HomeNotConfigured(Exception):
    """``LMS_FAKE_HOME`` is missing or unusable; ``str()`` is the sentence to print."""


class CliHome(Home):
    """A :class:`Home` that skips the initialisation lock when the home already exists.

    ``Home.__init__`` takes the state lock to create missing files; a model load holds that lock for
    its whole simulated load time, and a concurrent ``lms ps`` must not wait for it.
    """

    def _initialise(self, catalog: Catalog | None) -> None:
        if catalog is None and self.catalog_file.is_file() and self.state_file.is_file():
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            return
        super()._initialise(catalog)


def open_home(environ: dict[str, str] | None = None) -> Home:
    env = os.environ if environ is None else environ
    value = env.get(HOME_ENV, "").strip()
    if not value:
        raise HomeNotConfigured(
            f"{HOME_ENV} is not set. The fake lms works on a fake LM Studio home directory and never on "
            f"a real one: set {HOME_ENV} to the directory the fake server uses "
            f"(python -m fake_lms serve --home DIR), e.g. export {HOME_ENV}=/tmp/fake-lmstudio"
        )
    from fake_lms.model.home import StateError, UnsafeHome

    try:
        return CliHome(value)
    except UnsafeHome:
        raise HomeNotConfigured(
            f"{HOME_ENV}={value} cannot be used: it is a real LM Studio home (~/.lmstudio, "
            "~/.cache/lm-studio, or the directory named by ~/.lmstudio-home-pointer). The fake lms needs "
            "a directory of its own."
        ) from None
    except StateError as exc:
        raise HomeNotConfigured(f"{HOME_ENV}={value} cannot be used: {exc}") from None
    except OSError as exc:
        raise HomeNotConfigured(f"{HOME_ENV}={value} cannot be used: {exc.strerror or exc}") from None


class Ctx:
    """One invocation of one subcommand."""

    def __init__(
        self,
        options: dict[str, Any],
        arguments: list[str],
        console: Console,
        style: Style,
        logger: Logger,
        home: Home,
    ) -> None:
        self.opts = options
        self.args = arguments
        self.console = console
        self.style = style
        self.logger = logger
        self.home = home

    def arg(self, index: int = 0) -> str | None:
        return self.args[index] if index < len(self.args) else None

    def connect(self) -> None:
        """``createClient``: honour ``--host/--port`` like real lms, then act on the home."""
        create_client(self.logger, self.opts.get("host"), self.opts.get("port"), self.style.yellow)
