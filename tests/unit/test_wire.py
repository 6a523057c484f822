"""The wire contract: topics, validation, and the exported JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.messages import (
    HealthReport,
    ProbeReport,
    health_topic,
    parse_topic,
    snapshot_topic,
    status_topic,
)
from agent.wire import render, schemas

ROOT = Path(__file__).resolve().parents[2]


def test_exported_schemas_match_the_models() -> None:
    for name, schema in schemas().items():
        path = ROOT / "docs" / "wire" / name
        assert path.read_text(encoding="utf-8") == render(schema), (
            f"{path} is stale: run `python -m agent.wire`"
        )


def test_topics_round_trip() -> None:
    assert health_topic("00127", "ag-1", "cam-1") == "camnet/v1/00127/ag-1/cam-1/health"
    parts = parse_topic(snapshot_topic("00127", "ag-1", "cam-1"))
    assert (parts.kind, parts.commune, parts.agent_id, parts.camera_id) == (
        "snapshot",
        "00127",
        "ag-1",
        "cam-1",
    )
    assert parse_topic(status_topic("ag-1")).kind == "status"


@pytest.mark.parametrize(
    "topic",
    [
        "camnet/v2/00127/a/c/health",
        "camnet/v1/127/a/c/health",
        "camnet/v1/00127/a/c/x",
        "camnet/v1/00127/a/+/health",
        "",
    ],
)
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(ValueError, match=r"topic|commune|id"):
        parse_topic(topic)


def test_topic_builders_refuse_wildcards() -> None:
    with pytest.raises(ValueError, match="camera id"):
        health_topic("00127", "ag-1", "cam/#")


def test_health_report_from_probe_keeps_the_url_at_the_edge() -> None:
    probe = ProbeReport(
        url="rtsp://10.0.0.1/x", camera_id="cam-1", status="down", cause="timeout", detail="x" * 900
    )
    report = HealthReport.from_probe(
        probe, report_id="a" * 32, agent_id="ag-1", commune="00127", seq=7
    )
    assert "url" not in report.model_dump()
    assert report.detail is not None
    assert len(report.detail) == 500
    assert report.topic() == "camnet/v1/00127/ag-1/cam-1/health"
    again = HealthReport.model_validate_json(report.model_dump_json())
    assert again == report


def test_naive_times_and_unknown_fields_are_refused() -> None:
    base = {
        "report_id": "b" * 32,
        "agent_id": "a",
        "camera_id": "c",
        "commune": "00127",
        "seq": 1,
        "status": "ok",
    }
    with pytest.raises(ValidationError, match="timezone"):
        HealthReport.model_validate({**base, "probed_at": datetime(2026, 1, 1)})  # noqa: DTZ001
    with pytest.raises(ValidationError, match="extra"):
        HealthReport.model_validate({**base, "probed_at": datetime.now(UTC), "url": "rtsp://x"})
