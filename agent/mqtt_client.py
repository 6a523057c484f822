"""The agent's MQTT client: aiomqtt, told when the broker refuses a publish.

A broker's ACL may refuse a publish (an agent configured with another commune's code, an
ACL not regenerated after a registry import). MQTT 3.1.1 has no way to say so: mosquitto
acknowledges and drops the message, and the agent would delete it from its outbox. MQTT 5
answers with a PUBACK reason code ("Not authorized", 0x87), which aiomqtt 2.5 receives
and ignores. :class:`Client` keeps it and raises :class:`PublishRefusedError` from
``publish``, so the message stays in the outbox and the refusal is logged. The agent
speaks MQTT 5 unless ``mqtt.protocol`` says 3.1.1 (for amqtt, which has no MQTT 5).

Like ``collector/mqtt_read.py`` this reaches into aiomqtt's paho client; it is the one
module of the agent that does.
"""

from __future__ import annotations

import contextlib
import ssl
from contextvars import ContextVar
from typing import Any

import aiomqtt
from paho.mqtt.client import MQTTMessageInfo
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: The message id paho gave the publish running in this task (each send is its own task).
_MID: ContextVar[int | None] = ContextVar("camnet_publish_mid", default=None)
#: How long the broker keeps an MQTT 5 session after the link drops (3.1.1: for ever).
SESSION_EXPIRY = 86_400


def session_options(v5: bool) -> dict[str, Any]:
    """``aiomqtt.Client`` arguments for a persistent session in MQTT 5 or 3.1.1."""
    if not v5:
        return {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY
    return {
        "protocol": aiomqtt.ProtocolVersion.V5,
        "clean_start": False,
        "properties": properties,
    }


class PublishRefusedError(aiomqtt.MqttError):
    """The broker acknowledged a publish with a failure reason code (MQTT 5)."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic, self.reason = topic, reason
        super().__init__(f"broker refused publishing to {topic}: {reason}")


class Client(aiomqtt.Client):
    """aiomqtt's client whose QoS 1 ``publish`` raises when the PUBACK is a refusal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused: dict[int, str] = {}
        paho_publish = self._client.publish

        def publish(*a: Any, **kw: Any) -> MQTTMessageInfo:
            info = paho_publish(*a, **kw)
            _MID.set(info.mid)
            return info

        self._client.publish = publish  # type: ignore[method-assign]

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._refused[mid] = str(reason)
        super()._on_publish(client, userdata, mid, reason, props)

    async def publish(  # type: ignore[override]
        self,
        topic: str,
        payload: bytes | str | None = None,
        qos: int = 0,
        retain: bool = False,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - aiomqtt's own parameter
    ) -> None:
        """Publish like aiomqtt; raise :class:`PublishRefusedError` on a refusal."""
        _MID.set(None)
        await super().publish(topic, payload, qos, retain, timeout=timeout)
        mid = _MID.get()
        if mid is not None and (reason := self._refused.pop(mid, None)) is not None:
            raise PublishRefusedError(topic, reason)


class ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails: paho 2.2 drops it unclosed (an fd per try)."""

    def do_handshake(self, block: bool = False) -> None:
        """Handshake; close the socket if it fails."""
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def abandon(client: aiomqtt.Client) -> None:
    """Close the socket of a connection attempt that failed.

    aiomqtt 2.5.1 leaves paho's socket open when the CONNACK never comes (a broker that
    accepts TCP and hangs): one file descriptor per attempt. paho's ``disconnect()`` closes
    it; aiomqtt exposes no public way, hence the private attribute, looked up defensively.
    """
    paho = getattr(client, "_client", None)
    if paho is not None:
        with contextlib.suppress(Exception):
            paho.disconnect()
