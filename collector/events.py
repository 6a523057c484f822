"""Events of the data path on MQTT: who should wake up when something changed.

The collector owns this contract as the agent owns ``agent.messages``. Events are hints,
not records: the database stays the truth, and every subscriber also looks on its own
every few seconds, so a lost event delays by one such look and loses nothing.

* ``camnet/v1/events/state`` — :class:`StateChanged`, published by the collector after
  it committed camera state changes (``camnet jobs`` wakes up and raises or closes tasks
  exactly when a grace period ends, not at its next periodic tick);
* ``camnet/v1/events/tasks`` — :class:`TasksChanged`, published by ``camnet jobs`` after
  a tick wrote task events (``camnet alerts`` reads them from the database at once).

QoS 0 (a lost hint costs one look; publishing QoS 1 from the collector left a paho
socket open after the client closed, found by the test suite), not retained.
:func:`follow` is the subscriber loop both use.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import aiomqtt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings

from agent.messages import TOPIC_ROOT

log = logging.getLogger(__name__)

STATE_TOPIC = f"{TOPIC_ROOT}/events/state"
TASKS_TOPIC = f"{TOPIC_ROOT}/events/tasks"
#: Camera changes per ``StateChanged`` message at most (bigger batches are split).
MAX_CHANGES = 500


class CameraChange(BaseModel):
    """A confirmed change of one camera's status."""

    model_config = ConfigDict(extra="ignore")

    camera_id: str
    status: str
    since: AwareDatetime
    faults: list[str] = Field(default_factory=list)


class StateChanged(BaseModel):
    """Cameras whose status changed in one committed batch."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    published_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    changes: list[CameraChange] = Field(default_factory=list)


class TasksChanged(BaseModel):
    """A tick of ``camnet jobs`` wrote task events up to ``last_event_id``."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    published_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    last_event_id: int = 0
    raised: int = 0
    reopened: int = 0
    closed: int = 0
    escalated: int = 0


class Broker(BaseModel):
    """Where the events are; ``host`` empty turns events off (periodic looks only)."""

    model_config = ConfigDict(extra="forbid")

    host: str = ""
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: str | None = None

    def client(self, identifier: str) -> aiomqtt.Client:
        """A clean-session client: events missed while away are covered by the looks."""
        context = ssl.create_default_context(cafile=self.ca_file) if self.tls else None
        password = self.password.get_secret_value() if self.password else None
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=identifier,
            username=self.username,
            password=password,
            tls_context=context,
            keepalive=30,
        )


class BrokerSettings(BaseSettings):
    """The ``mqtt_*`` settings of a service that follows events (jobs, alerts)."""

    mqtt_host: str = Field("", description="Broker for events; empty: periodic looks only.")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_username: str | None = Field(None, description="MQTT user name.")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password; never logged.")
    mqtt_tls: bool = Field(False, description="Connect with TLS.")
    mqtt_ca_file: str | None = Field(None, description="CA bundle for the broker's certificate.")

    def broker(self) -> Broker:
        """The events broker of these settings."""
        return Broker(
            host=self.mqtt_host,
            port=self.mqtt_port,
            username=self.mqtt_username,
            password=self.mqtt_password,
            tls=self.mqtt_tls,
            ca_file=self.mqtt_ca_file,
        )


def state_messages(changes: list[CameraChange]) -> list[bytes]:
    """``changes`` as one or more ``StateChanged`` payloads."""
    now = datetime.now(UTC)
    return [
        StateChanged(published_at=now, changes=changes[i : i + MAX_CHANGES])
        .model_dump_json()
        .encode()
        for i in range(0, len(changes), MAX_CHANGES)
    ]


async def follow(
    broker: Broker,
    identifier: str,
    topic: str,
    on_message: Callable[[bytes], None],
    connected: asyncio.Event | None = None,
    on_client: Callable[[aiomqtt.Client | None], None] | None = None,
) -> None:
    """Subscribe to ``topic`` and call ``on_message`` for each payload, reconnecting forever.

    ``on_client`` is told the live client (to publish through it) and None when it is gone.
    """
    attempt = 0
    while True:
        try:
            async with broker.client(identifier) as client:
                await client.subscribe(topic, qos=1)
                attempt = 0
                if on_client is not None:
                    on_client(client)
                if connected is not None:
                    connected.set()
                log.info("events: subscribed to %s on %s:%s", topic, broker.host, broker.port)
                async for message in client.messages:
                    payload = message.payload
                    on_message(payload if isinstance(payload, bytes) else str(payload).encode())
        except aiomqtt.MqttError as exc:
            if attempt == 0:
                log.warning("events: broker %s:%s unreachable: %s", broker.host, broker.port, exc)
        finally:
            if on_client is not None:
                on_client(None)
            if connected is not None:
                connected.clear()
        attempt += 1
        await asyncio.sleep(random.uniform(0.2, min(30.0, 0.5 * 2 ** min(attempt, 6))))  # noqa: S311


def parse_tasks(payload: bytes) -> TasksChanged | None:
    """A ``TasksChanged`` or None when the payload is not one (logged)."""
    try:
        return TasksChanged.model_validate_json(payload)
    except ValidationError as exc:
        log.warning("events: ignored a malformed tasks event: %s", exc.errors()[0]["msg"])
        return None
