"""Errors of the edge agent.

Class tree::

    AgentError
    ├── ConfigError          one thing wrong in a config file (file, line, what to write)
    ├── InvalidConfigError   every error found in one config file
    ├── ProbeError           a probe ended without a picture; ``cause`` is the exact cause
    │   └── (one instance per cause; see ``agent.messages.Cause``)
    ├── OutboxError          the on-disk outbox cannot be opened or written (path, detail)
    └── PublishError         the MQTT link to the broker failed (host, port, detail)
        └── BrokerRefusedError   the broker answered CONNACK with a refusal (credentials)

Third-party exceptions are mapped in one place each, with ``raise ... from exc``: aiortsp,
PyAV and OSError to ``ProbeError`` in ``agent/rtsp.py`` and ``agent/decode.py``; sqlite3 to
``OutboxError`` in ``agent/outbox.py``; aiomqtt/paho to ``PublishError`` in
``agent/publisher.py``, which never lets one escape: the broker being down is a state the
agent waits out with its outbox, not an error that stops it.
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


class OutboxError(AgentError):
    """The on-disk outbox cannot be opened, read or written."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class PublishError(AgentError):
    """The MQTT link to the broker could not be made or was lost."""

    def __init__(self, host: str, port: int, detail: str) -> None:
        self.host = host
        self.port = port
        self.detail = detail
        super().__init__(f"MQTT broker {host}:{port}: {detail}")


class BrokerRefusedError(PublishError):
    """The broker refused the connection (CONNACK): user name, password or permission."""
