"""Check one MQTT message against the wire contract, without any state.

``validate(msg)`` gives the payload as its model (:class:`Snapshot`, :class:`AgentStatus`;
a health report as the :class:`Report` the collector uses of it) when the topic is a
camnet topic, the payload fits, parses, matches the schema and names exactly the ids of
its topic; otherwise the quarantine reason and a short detail. Health reports go through
the fast decoder first (``collector/fast_report.py``); pydantic has the last word.
"""

from __future__ import annotations

from pydantic import ValidationError

from agent.messages import (
    MAX_PAYLOAD,
    TOPIC_ROOT,
    AgentStatus,
    HealthReport,
    Snapshot,
    parse_topic,
)
from collector.batch import Incoming, short
from collector.fast_report import Report, fast_report

Model = Report | Snapshot | AgentStatus
_AGENTS = f"{TOPIC_ROOT}/agents/"
_ROOT = f"{TOPIC_ROOT}/"
_MODELS: dict[str, type[HealthReport] | type[Snapshot] | type[AgentStatus]] = {
    "health": HealthReport,
    "snapshot": Snapshot,
    "status": AgentStatus,
}
# the models' own validators: ``model_validate_json`` is a Python wrapper around them
_VALIDATORS = {kind: model.__pydantic_validator__ for kind, model in _MODELS.items()}


def _kind_of(topic: str) -> str:
    if topic.startswith(_AGENTS):
        return "status"
    return topic.rpartition("/")[2]


def topic_of(data: Model) -> str:
    """The one topic ``data`` may arrive on."""
    if isinstance(data, AgentStatus):
        return f"{_AGENTS}{data.agent_id}/status"
    kind = "health" if isinstance(data, Report) else "snapshot"
    return f"{TOPIC_ROOT}/{data.commune}/{data.agent_id}/{data.camera_id}/{kind}"


def topic_problem(topic: str) -> str:
    """Why ``topic`` is not a camnet topic, or '' if it is one."""
    try:
        parse_topic(topic)
    except ValueError as exc:
        return str(exc)
    return ""


def validate(msg: Incoming) -> tuple[Model | None, str, str]:
    """``(model, "", "")`` for a valid message, else ``(None, reason, detail)``."""
    if len(msg.payload) > MAX_PAYLOAD:
        return None, "too_large", f"{len(msg.payload)} bytes > {MAX_PAYLOAD}"
    kind = _kind_of(msg.topic)
    validator = _VALIDATORS.get(kind)
    if validator is None or not msg.topic.startswith(_ROOT):
        return None, "bad_topic", topic_problem(msg.topic)
    fast = fast_report(msg.payload, msg.topic) if kind == "health" else None
    if fast is not None:
        return fast, "", ""  # on its own topic: checked there
    # not a health report, or one the fast decoder leaves to pydantic
    try:
        model = validator.validate_json(msg.payload)
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
        return None, "bad_json" if "json_invalid" in kinds else "bad_schema", short(exc)
    try:
        data = Report.of(model) if isinstance(model, HealthReport) else model
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: valid, but not in UTC
        return None, "bad_schema", "probed_at: out of range in UTC"
    # ids in the payload are validated; the topic must be exactly the one they name
    if msg.topic != topic_of(data):
        problem = topic_problem(msg.topic)
        if problem:
            return None, "bad_topic", problem
        return None, "topic_mismatch", "payload ids differ from the topic's"
    return data, "", ""
