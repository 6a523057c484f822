"""Builders shared by collector tests: a small registry and wire messages."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.messages import AgentStatus, HealthReport, health_topic
from collector.batch import Incoming
from collector.models import AgentRecord, Camera, Commune, Province, Site

_seq = itertools.count()


def seed_registry(
    engine: Engine, cameras: dict[str, list[str]], agent_of: str = "agent-{c}"
) -> None:
    """Register communes (code → camera ids), one site and agent per commune."""
    with Session(engine) as session:
        session.add(Province(code="26", name="Vĩnh Phúc"))
        session.flush()
        for commune, ids in cameras.items():
            agent = agent_of.format(c=commune)
            session.add(Commune(code=commune, name=f"Xã {commune}", province_code="26"))
            session.flush()
            session.add(Site(id=f"site-{commune}", commune_code=commune))
            session.flush()
            session.add(AgentRecord(id=agent, site_id=f"site-{commune}", commune_code=commune))
            for cam in ids:
                session.add(
                    Camera(id=cam, commune_code=commune, site_id=f"site-{commune}", agent_id=agent)
                )
        session.commit()


def health(
    camera: str,
    status: str,
    at: datetime,
    *,
    commune: str = "00001",
    agent: str | None = None,
    faults: list[str] | None = None,
    cause: str | None = None,
    report_id: str | None = None,
) -> HealthReport:
    """A valid health report."""
    return HealthReport.model_validate(
        {
            "report_id": report_id or uuid.uuid4().hex,
            "agent_id": agent or f"agent-{commune}",
            "camera_id": camera,
            "commune": commune,
            "seq": next(_seq),
            "probed_at": at,
            "status": status,
            "cause": cause or ("unreachable" if status == "down" and not faults else None),
            "faults": faults or [],
        }
    )


def incoming(report: HealthReport | AgentStatus, received_at: datetime | None = None) -> Incoming:
    """The MQTT message carrying ``report``."""
    topic = (
        health_topic(report.commune, report.agent_id, report.camera_id)
        if isinstance(report, HealthReport)
        else report.topic()
    )
    when = received_at or (report.probed_at if isinstance(report, HealthReport) else report.sent_at)
    return Incoming(topic, report.model_dump_json().encode(), when)


def status(
    agent: str,
    state: str,
    at: datetime,
    commune: str = "00001",
    heartbeat: float = 60,
    connected_at: datetime | None = None,
) -> AgentStatus:
    """An agent status message."""
    return AgentStatus(
        agent_id=agent,
        commune=commune,
        state=state,  # type: ignore[arg-type]
        sent_at=at,
        heartbeat=heartbeat,
        connected_at=connected_at,
    )


def utc(*args: int) -> datetime:
    """``datetime(*args)`` in UTC."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
