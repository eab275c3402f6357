"""Record and replay (cassettes), usable without pytest and without a server.

``cassette`` (the YAML files), ``matching`` (which recorded request answers a new one; the closest
one and a short diff on a miss), ``redact`` (what never reaches a file), ``session`` (one cassette in
use under a record mode) and ``drift`` (how a re-recorded answer changed). The server side (the
recording proxy and the replaying fake) lives in ``fake_lms.server.proxy`` and
``fake_lms.server.recording``; the pytest side in ``pytest_lmstudio.cassettes``.

This package imports no layer of the fake (only the standard library and PyYAML): it is plain data.
"""

from fake_lms.replay.cassette import Cassette, CassetteError, Interaction
from fake_lms.replay.drift import Drift
from fake_lms.replay.matching import DEFAULT_IGNORED, Matcher, Request
from fake_lms.replay.redact import Redactor
from fake_lms.replay.session import RECORD_MODES, CassetteSession, Miss, Outcome

__all__ = [
    "DEFAULT_IGNORED",
    "RECORD_MODES",
    "Cassette",
    "CassetteError",
    "CassetteSession",
    "Drift",
    "Interaction",
    "Matcher",
    "Miss",
    "Outcome",
    "Redactor",
    "Request",
]
