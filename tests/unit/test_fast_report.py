"""The fast health-report decoder never accepts what the pydantic contract refuses.

``collector/fast_report.py`` may refuse more than pydantic (the payload then goes to
pydantic), never less, and what it accepts it must read to the same values.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel, ValidationError

from agent.messages import HealthReport, StreamInfo
from collector.batch import Incoming
from collector.fast_report import Report, Wire, WireStream, fast_report
from collector.validate import validate

BASE: dict[str, Any] = {
    "schema_version": 1,
    "report_id": "00acaf89477e447789ec642086603d6b",
    "agent_id": "agent-26007",
    "camera_id": "cam-26007-000947",
    "commune": "26007",
    "seq": 7,
    "probed_at": "2026-11-22T23:50:58.260913Z",
    "status": "degraded",
    "cause": None,
    "faults": ["blurred", "noisy"],
    "detail": "mờ",
    "stream": {"codec": "h264", "width": 1920, "height": 1080, "fps": 25.0, "audio": None},
    "metrics": {"brightness": 95.224, "sharpness": 3},
    "timings": {"connect": 0.0061, "total": 1.2},
}

# values that pydantic (lax, from JSON) and msgspec may judge differently
TRICKY: list[object] = [
    None,
    True,
    0,
    -1,
    1,
    2,
    1.0,
    7.5,
    1e400,
    -0.0,
    2**64,
    "",
    "1",
    "7",
    "x",
    "ok",
    "OK",
    "h264",
    "26007",
    "2600",
    "260070",
    "٢٦٠٠٧",
    "26007\n",
    "26007 ",
    "agent-1\n",
    "-agent",
    "a" * 64,
    "a" * 65,
    "cam\u00e9",
    "0" * 32,
    "0" * 31,
    "A" * 32,
    "00acaf89477e447789ec642086603d6b\n",
    "2026-11-22T23:50:58Z",
    "2026-11-22T23:50:58.2609135Z",
    "2026-11-22 23:50:58Z",
    "2026-11-22t23:50:58z",
    "2026-11-22T23:50:58+07:00",
    "2026-11-22T23:50:58+0700",
    "2026-11-22T23:50:58-00:00",
    "2026-11-22T23:50Z",
    "2026-11-22T23:59:60Z",
    "2026-11-22T24:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-11-22T23:50:58+24:00",
    "2026-11-22T23:50:58+23:59",
    "2026-11-22T23:50:58",
    "2026-11-22",
    "1700000000",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-11-22T23:50:58,5Z",
    "unreachable",
    "black",
    "on_fire",
    "đ" * 500,
    "đ" * 501,
    [],
    ["black"],
    ["black"] * 13,
    ["x"],
    {},
    {"a": 1},
    {"a": "1"},
    {"a": None},
    {"codec": "h265"},
    {"fps": "25"},
    {"width": 1.0},
    {"width": "1920"},
    {"extra": 1},
    {str(i): 1.0 for i in range(65)},
    1700000000,
    1700000000.5,
]
# other values each field may have, so that fuzzed payloads are often valid
PLAUSIBLE: dict[str, list[object]] = {
    "report_id": ["0123456789abcdef0123456789abcdef"],
    "agent_id": ["a", "agent_26.x-1", "Z" * 64],
    "camera_id": ["c", "cam.1_2-3"],
    "commune": ["00001", "99999"],
    "seq": [0, 2**62],
    "probed_at": ["2026-01-01T00:00:00Z", "2026-11-23T07:00:00.5+07:00", "2026-11-22T23:50:58.1Z"],
    "status": ["ok", "down", "degraded"],
    "cause": [None, "timeout", "no_video"],
    "faults": [[], ["frozen", "frozen"], ["no_audio", "low_fps"]],
    "detail": [None, "", "đ" * 500],
    "stream": [{}, {"codec": None, "width": 640}, {"fps": 12}],
    "metrics": [{}, {"x": -1.5, "y": 0}],
    "timings": [{}, {"total": 0}],
    "schema_version": [1],
}


def topic_for(doc: dict[str, Any]) -> str:
    """The topic a publisher would pick for ``doc``'s ids, whatever they are."""
    return f"camnet/v1/{doc.get('commune')}/{doc.get('agent_id')}/{doc.get('camera_id')}/health"


TOPIC = topic_for(BASE)


def same_verdict(payload: bytes, topic: str) -> None:
    fast = fast_report(payload, topic)
    if fast is None:
        return  # pydantic decides: nothing to compare
    try:
        model = HealthReport.model_validate_json(payload)
    except ValidationError as exc:
        pytest.fail(f"the fast decoder accepted what the contract refuses: {payload!r}\n{exc}")
    assert fast == Report.of(model), payload
    assert fast.probed_at.tzinfo is UTC


def payload(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def test_the_mirror_has_the_contracts_fields() -> None:
    def fields(model: type[BaseModel]) -> dict[str, bool]:
        return {name: f.is_required() for name, f in model.model_fields.items()}

    def struct_fields(struct: type[msgspec.Struct]) -> dict[str, bool]:
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        return {f.name: f.required for f in info.fields}

    assert struct_fields(Wire) == fields(HealthReport)
    assert struct_fields(WireStream) == fields(StreamInfo)
    assert Wire.__struct_config__.forbid_unknown_fields
    assert WireStream.__struct_config__.forbid_unknown_fields


def test_a_valid_report_reads_the_same_both_ways() -> None:
    raw = payload(BASE)
    fast = fast_report(raw, TOPIC)
    assert fast is not None  # the everyday report takes the fast path
    assert fast == Report.of(HealthReport.model_validate_json(raw))
    assert fast.probed_at == datetime(2026, 11, 22, 23, 50, 58, 260913, tzinfo=UTC)
    agent_made = HealthReport.model_validate(BASE).model_dump_json().encode()
    assert fast_report(agent_made, TOPIC) == fast  # as the agent serialises it


@pytest.mark.parametrize("field", [*BASE, "stream.codec", "stream.width", "stream.fps", "url"])
def test_every_tricky_value_in_every_field(field: str) -> None:
    for value in TRICKY:
        doc = json.loads(json.dumps(BASE))
        if field.startswith("stream."):
            doc["stream"][field.split(".")[1]] = value
        else:
            doc[field] = value
        same_verdict(payload(doc), topic_for(doc))
    doc = json.loads(json.dumps(BASE))
    doc.pop(field, None)
    same_verdict(payload(doc), topic_for(doc))


def test_fuzzed_payloads_never_pass_the_fast_path_alone() -> None:
    rng = random.Random(20261123)
    raw = payload(BASE)
    accepted = 0
    for _ in range(3000):
        doc = json.loads(raw)
        for _ in range(rng.randrange(1, 4)):
            field = rng.choice([*BASE, "extra"])
            doc[field] = rng.choice(TRICKY if rng.random() < 0.3 else PLAUSIBLE.get(field, TRICKY))
        data = payload(doc)
        kind = rng.randrange(8)
        if kind == 0:
            data = data[: rng.randrange(len(data))]  # truncated
        elif kind == 1:
            data = bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.01 else b for b in data)
        elif kind == 2:  # a key twice: which one wins?
            data = data[:-1] + rng.choice([b', "seq": -5}', b', "seq": 5, "status": "down"}'])
        elif kind == 3:
            data = (
                rng.choice([b"\xef\xbb\xbf", b" ", b"\n"]) + data + rng.choice([b"", b" x", b"\n"])
            )
        elif kind == 4:
            data = data.replace(b'"m', b'"\\ud800m', 1)  # a lone surrogate
        fast = fast_report(data, topic_for(doc))
        accepted += fast is not None
        same_verdict(data, topic_for(doc))
    assert accepted > 500  # the mutations left enough valid payloads to compare


def test_validate_gives_a_report_either_way() -> None:
    topic = "camnet/v1/26007/agent-26007/cam-26007-000947/health"
    now = datetime.now(UTC)
    quick, _, _ = validate(Incoming(topic, payload(BASE), now))
    slow_doc = {**BASE, "seq": "7", "probed_at": "2026-11-23T06:50:58.260913+07:00"}
    assert fast_report(payload(slow_doc), topic) is None  # left to pydantic
    slow, _, _ = validate(Incoming(topic, payload(slow_doc), now))
    assert isinstance(quick, Report)
    assert quick == slow
    bad, reason, detail = validate(Incoming(topic, payload({**BASE, "seq": -1}), now))
    assert (bad, reason) == (None, "bad_schema")
    assert "seq" in detail  # pydantic's message, as before


def test_a_time_that_has_no_utc_equivalent_is_quarantined_not_raised() -> None:
    topic = "camnet/v1/26007/agent-26007/cam-26007-000947/health"
    doc = {**BASE, "probed_at": "0001-01-01T00:00:00+01:00"}  # the contract allows it
    data, reason, detail = validate(Incoming(topic, payload(doc), datetime.now(UTC)))
    assert (data, reason, detail) == (None, "bad_schema", "probed_at: out of range in UTC")


def test_only_on_its_own_topic() -> None:
    raw = payload(BASE)
    assert fast_report(raw, TOPIC) is not None
    for topic in [
        TOPIC.replace("cam-26007-000947", "cam-2"),  # another camera's topic
        TOPIC.replace("/health", "/snapshot"),
        TOPIC + "/",
        TOPIC + "\n",
        "x" + TOPIC,
    ]:
        assert fast_report(raw, topic) is None
    # ids that join into a well-formed topic but are not ids themselves
    doc = {**BASE, "commune": "26007/agent-26007", "agent_id": "cam-26007-000947", "camera_id": ""}
    assert fast_report(payload(doc), topic_for(doc)) is None
    slash = {**BASE, "agent_id": "a/b"}
    assert fast_report(payload(slash), topic_for(slash)) is None
