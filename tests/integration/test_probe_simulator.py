"""The probe against the camera simulator: each behaviour ends in its exact cause or fault."""

from __future__ import annotations

import asyncio

import pytest

from agent.history import CameraHistory
from agent.probe import CameraSpec, probe, probe_many
from agent.rtsp import ProbeOptions
from tests import simulator_fixtures as fx

simulator = fx.simulator
sim_cache_dir = fx.sim_cache_dir

FAST = ProbeOptions(timeout=4.0, rtp_idle=1.5, transport="tcp")
STREAM_CASES = {
    "healthy": None,
    "refuse": "unreachable",
    "silent": "rtsp_timeout",
    "auth": "auth_failed",
    "not_found": "not_found",
    "no_rtp": "no_video",
    "no_keyframe": "no_keyframe",
}


async def test_each_stream_behaviour_ends_in_its_cause(simulator: fx.SimFactory) -> None:
    cameras = [{"id": name, "fault": name, "auth": "digest"} for name in STREAM_CASES]
    sim = await simulator({"cameras": cameras})
    for name, cause in STREAM_CASES.items():
        report = await probe(sim.cameras[name].url, FAST)
        assert report.cause == cause, f"{name}: {report.detail}"
        assert report.timings["total"] <= FAST.timeout + 1.0
        if cause is not None:
            assert report.status == "down"
            assert report.detail


@pytest.mark.parametrize("codec", ["h264", "h265"])
@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_healthy_camera_every_codec_transport_and_auth(
    simulator: fx.SimFactory, codec: str, transport: str, auth: str
) -> None:
    sim = await simulator(
        {"cameras": [{"id": "c", "codec": codec, "auth": auth, "width": 640, "height": 360}]}
    )
    options = ProbeOptions(timeout=6, transport=transport)
    report = await probe(sim.cameras["c"].url, options, spec=CameraSpec(640, 360, 25, False))
    assert report.cause is None, report.detail
    assert report.stream.codec == codec
    assert (report.stream.width, report.stream.height) == (640, 360)
    assert report.stream.fps == pytest.approx(25, rel=0.1)
    assert report.status == "ok", report.faults
    assert "camnet123" not in report.model_dump_json()


PICTURE_CASES = [
    ("black", "down"),
    ("covered", "down"),
    ("blurred", "degraded"),
    ("noisy", "degraded"),
    ("too_dark", "degraded"),
    ("too_bright", "degraded"),
    ("color_cast", "degraded"),
]


async def test_picture_faults_reach_the_report(simulator: fx.SimFactory) -> None:
    cameras = [{"id": f, "fault": f} for f, _ in PICTURE_CASES] + [
        {"id": "night", "fault": "night"}
    ]
    sim = await simulator({"defaults": {"width": 640, "height": 360}, "cameras": cameras})
    for fault, status in PICTURE_CASES:
        report = await probe(sim.cameras[fault].url, FAST)
        assert fault in report.faults, (fault, report.faults, report.metrics)
        assert report.status == status
    night = await probe(sim.cameras["night"].url, FAST)
    assert night.status == "ok", (night.faults, night.metrics)


async def test_declared_spec_faults(simulator: fx.SimFactory) -> None:
    sim = await simulator(
        {
            "defaults": {"width": 640, "height": 360, "audio": "aac"},
            "cameras": [
                {"id": "lowres", "fault": "low_resolution"},
                {"id": "lowfps", "fault": "low_fps"},
                {"id": "mute", "fault": "no_audio"},
            ],
        }
    )
    spec = CameraSpec(640, 360, 25, True)
    slow = ProbeOptions(timeout=6, transport="tcp", fps_window=2.0)
    faults = {c: (await probe(sim.cameras[c].url, slow, spec=spec)).faults for c in sim.cameras}
    assert "low_resolution" in faults["lowres"]
    assert "low_fps" in faults["lowfps"]
    assert faults["mute"] == ["no_audio"]


async def test_frozen_and_moved_need_history_and_are_found(simulator: fx.SimFactory) -> None:
    sim = await simulator({"defaults": {"width": 640, "height": 360}, "cameras": [{"id": "c"}]})
    history = CameraHistory()
    learned = []
    for _ in range(8):  # healthy probes: the reference picture is learned
        report = await probe(sim.cameras["c"].url, FAST, history=history)
        learned.append(report.status)
        if history.reference is not None:
            break
    assert history.reference is not None, learned
    await sim.set_fault("c", "moved")
    moved = await probe(sim.cameras["c"].url, FAST, history=history)
    assert "moved" in moved.faults, moved.metrics
    await sim.set_fault("c", "frozen")
    await probe(sim.cameras["c"].url, FAST, history=history)
    await asyncio.sleep(1.1)  # frozen compares pictures at least 1 s apart
    frozen = await probe(sim.cameras["c"].url, FAST, history=history)
    assert "frozen" in frozen.faults, frozen.metrics
    assert frozen.status == "down"
    await sim.set_fault("c", "healthy")
    healed = await probe(sim.cameras["c"].url, FAST, history=history)
    assert "frozen" not in healed.faults


async def test_many_cameras_one_bad_never_stops_the_others(simulator: fx.SimFactory) -> None:
    cams = [{"id": f"c{i:02d}", "fault": "silent" if i % 5 == 0 else "healthy"} for i in range(15)]
    sim = await simulator({"cameras": cams})
    urls = [c.url for c in sim.cameras.values()] + ["rtsp://127.0.0.1:1/nothing", "bogus://x"]
    reports = [r async for r in probe_many(urls, FAST, concurrency=8)]
    assert len(reports) == len(urls)
    causes = sorted(str(r.cause) for r in reports)
    assert causes.count("rtsp_timeout") == 3
    assert causes.count("None") == 12
    assert "unreachable" in causes
    assert "rtsp_error" in causes  # the bogus URL is a report, not an exception
