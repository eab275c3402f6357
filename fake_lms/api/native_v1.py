"""LM Studio's native REST API v1 (``/api/v1/*``, LM Studio 0.4.0+; spec §2.2)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fake_lms.api.context import Context
from fake_lms.api.types import ApiRequest, Reply

ROUTES: dict[tuple[str, str], Callable[[Context, ApiRequest], Reply]] = {}
PATTERN_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = []
