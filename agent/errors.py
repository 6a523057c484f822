"""Errors of the edge agent.

Class tree::

    AgentError
    ├── ConfigError          one thing wrong in a config file (file, line, what to write)
    ├── InvalidConfigError   every error found in one config file
    └── ProbeError           a probe ended without a picture; ``cause`` is the exact cause
        └── (one instance per cause; see ``agent.messages.Cause``)

Third-party exceptions (aiortsp, PyAV, OSError) are mapped to ``ProbeError`` in one place,
``agent/rtsp.py``, with ``raise ... from exc``.
"""

from __future__ import annotations

from agent.messages import Cause


class AgentError(Exception):
    """Base class of every error raised by the agent."""


class ConfigError(AgentError):
    """A configuration file is invalid."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class ProbeError(AgentError):
    """A probe could not get a picture; ``cause`` says exactly why."""

    def __init__(self, cause: Cause, detail: str) -> None:
        self.cause: Cause = cause
        self.detail = detail
        super().__init__(f"{cause}: {detail}")


class InvalidConfigError(AgentError):
    """Every error found in one config file, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
