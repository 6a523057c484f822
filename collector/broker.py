"""The embedded MQTT broker for ``make demo`` and the tests: amqtt, in our event loop.

``EmbeddedBroker`` wraps :class:`amqtt.broker.Broker` with the one configuration camnet
needs: a single TCP listener on ``host:port``, anonymous clients allowed, no ``$SYS``
topics and no packet logging::

    async with EmbeddedBroker(port=1883) as broker:
        ...  # aiomqtt clients connect to broker.host:broker.port

It speaks MQTT 3.1.1 only, with QoS 0/1/2, retained messages, Last Will and persistent
sessions (``clean_session=False``) kept in memory while the broker runs. It does **not**
support shared subscriptions (``$share/<group>/<filter>`` is treated as a plain topic
filter that never matches), has no ACLs and keeps nothing across a restart. Production
runs mosquitto or EMQX (``deploy/``); anything relying on ``$share/`` or on sessions
surviving a broker restart is tested against mosquitto.

Quirk: messages queued for an away persistent session are delivered on reconnect with the
RETAIN flag set (mosquitto clears it), so consumers must not read meaning into ``retain``.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

# amqtt ships no py.typed marker: its names are Any to mypy.
from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin  # type: ignore[import-untyped]

#: amqtt logs every connection and packet at INFO; only its warnings matter to us.
QUIET_LOGGERS = ("amqtt", "transitions")


def broker_config(host: str, port: int) -> dict[str, Any]:
    """Return amqtt's configuration for one anonymous TCP listener on ``host:port``.

    ``plugins`` is given explicitly: amqtt's default adds the ``$SYS`` publisher and the
    event/packet loggers, and the older ``auth``/``sys_interval`` keys raise
    ``DeprecationWarning`` (an error under the test suite's ``filterwarnings``).

    Args:
        host: Address the listener binds.
        port: Port the listener binds.

    Returns:
        A dict for :class:`amqtt.broker.Broker`.
    """
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {f"{__name__}.{OpenAuthPlugin.__qualname__}": {}},
    }


# amqtt's base class is Any to mypy (no py.typed), so subclassing it needs the ignore.
class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept every client, with or without a username, as a full (non-anonymous) session.

    amqtt's own ``AnonymousAuthPlugin`` marks *every* session anonymous when anonymous
    access is on, and amqtt never queues QoS 1/2 messages for an anonymous persistent
    session while it is away: ``clean_session=False`` would silently lose them.
    """

    async def authenticate(self, *, session: Any) -> bool:
        """Accept ``session`` (the demo and tests run on loopback without credentials).

        Args:
            session: The connecting client's ``amqtt.session.Session``.

        Returns:
            Always True.
        """
        del session  # everyone is welcome; the signature is amqtt's
        return True


class EmbeddedBroker:
    """An amqtt broker listening on ``host:port``, started and stopped in the running loop.

    Args:
        host: Address to bind; loopback by default so the demo is not exposed.
        port: TCP port to bind (1883, MQTT's default, unless told otherwise).
        quiet: Raise amqtt's loggers to WARNING (it logs each packet at INFO).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, quiet: bool = True) -> None:
        self.host = host
        self.port = port
        self._quiet = quiet
        self._broker: Any = None

    @property
    def running(self) -> bool:
        """Whether the broker accepts connections now."""
        return self._broker is not None

    async def start(self) -> None:
        """Bind the listener and start serving; return once clients can connect.

        Raises:
            RuntimeError: The broker is already running.
            amqtt.errors.BrokerError: The port could not be bound.
        """
        if self._broker is not None:
            raise RuntimeError("EmbeddedBroker is already running: stop() it first")
        if self._quiet:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
        broker = Broker(broker_config(self.host, self.port))
        await broker.start()
        self._broker = broker

    async def stop(self) -> None:
        """Disconnect every client, close the listener and drop all sessions (idempotent)."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.host!r}, {self.port}, {state})"
