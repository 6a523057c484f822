"""Unit checks of the simulator's pieces: packetizers, audio, scenario files, renderings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.messages import FAULTS
from agent.simulator.faults import apply_picture_fault, plan_for
from agent.simulator.media import split_nals
from agent.simulator.rtp import mulaw, packetize_h264, packetize_h265, rtp_packets
from agent.simulator.scenario import (
    BEHAVIOURS,
    ScenarioError,
    expand_cameras,
    healthy_config,
    load_scenario,
)
from agent.simulator.scenes import SceneRenderer, draw_osd


def test_every_agent_fault_can_be_simulated() -> None:
    assert set(FAULTS) <= set(BEHAVIOURS)


def test_h264_fu_a_reassembles() -> None:
    nal = bytes([0x65]) + bytes(range(256)) * 20
    parts = packetize_h264(nal, mtu=1000)
    assert len(parts) > 1
    assert all(len(p) <= 1000 for p in parts)
    assert parts[0][0] & 0x1F == 28
    assert parts[0][0] & 0xE0 == 0x60  # NRI kept
    assert parts[0][1] == 0x80 | 5
    assert parts[-1][1] == 0x40 | 5
    assert bytes([0x65]) + b"".join(p[2:] for p in parts) == nal
    assert packetize_h264(b"\x41abc") == [b"\x41abc"]


def test_h265_fu_reassembles() -> None:
    nal = bytes([19 << 1, 1]) + bytes(range(256)) * 20
    parts = packetize_h265(nal, mtu=1000)
    assert (parts[0][0] >> 1) & 0x3F == 49
    assert parts[0][2] == 0x80 | 19
    assert parts[-1][2] == 0x40 | 19
    assert nal[:2] + b"".join(p[3:] for p in parts) == nal


def test_rtp_header_and_marker() -> None:
    pkts = rtp_packets([b"a", b"b"], 96, 0xFFFF, 1234, 42)
    assert pkts[0][:2] == b"\x80\x60"
    assert pkts[1][:2] == b"\x80\xe0"
    assert pkts[1][2:4] == b"\x00\x00"  # sequence wraps


def test_split_nals_handles_3_and_4_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67AB\x00\x00\x01\x68C\x00\x00\x00\x01\x65DEF"
    assert split_nals(data) == [b"\x67AB", b"\x68C", b"\x65DEF"]


def test_mulaw_known_values() -> None:
    assert mulaw(np.array([0.0, 1.0, -1.0])) == bytes([0xFF, 0x80, 0x00])


def test_scenario_file_count_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "defaults: {codec: h265, auth: digest}\n"
        "cameras:\n"
        "  - {id: cong, scene: coffee, audio: aac}\n"
        "  - {id: 'cam-{n:02d}', count: 3, fault: black}\n"
        "timeline:\n  - {at: 1m, camera: cong, fault: frozen}\n",
        encoding="utf-8",
    )
    config = load_scenario(path)
    cams = expand_cameras(config)
    assert [c.id for c in cams] == ["cong", "cam-01", "cam-02", "cam-03"]
    assert all(c.codec == "h265" and c.auth == "digest" for c in cams)
    assert cams[1].fault == "black"
    assert config.timeline[0].at == 60.0


def test_scenario_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cameras:\n  - {id: a, codec: h266, colour: red}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert str(path) in text
    assert "cameras.0.codec" in text
    assert "cameras.0.colour" in text


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("cameras: [{id: a}, {id: a}]\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="repeated: a"):
        load_scenario(path)


def test_healthy_config() -> None:
    cams = expand_cameras(healthy_config(3, codec="h265"))
    assert [c.id for c in cams] == ["cam-001", "cam-002", "cam-003"]
    assert len({c.scene for c in cams}) == 3


def _picture(fault: str) -> np.ndarray:
    plan = plan_for(fault, 320, 180, 25)
    pic = SceneRenderer("astronaut", 320, 180, 4.0).picture(1.0, plan.shift, plan.angle)
    return apply_picture_fault(plan.fault, pic, np.random.default_rng(0))


def _sharpness(img: np.ndarray) -> float:
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_picture_fault_renderings() -> None:
    healthy = _picture("healthy")
    assert healthy.mean() > 60
    assert _picture("black").max() == 0
    covered = _picture("covered")
    assert 50 < covered.mean() < 100  # a lit hand/cloth on the lens, not a black picture
    assert covered.std() < 15
    assert covered[..., 2].mean() > covered[..., 0].mean()  # warm tint (BGR)
    assert _sharpness(_picture("blurred")) < _sharpness(healthy) / 10
    assert _sharpness(_picture("noisy")) > _sharpness(healthy) * 2
    assert _picture("too_dark").mean() < 25
    assert _picture("too_bright").mean() > 200
    _, g, r = (_picture("color_cast")[:, :, i].mean() for i in range(3))
    assert r > 1.5 * g
    night = _picture("night").astype(int)
    assert np.abs(night[:, :, 0] - night[:, :, 2]).max() == 0  # grey
    moved = _picture("moved").astype(float)
    assert np.abs(moved - healthy).mean() > 30


def test_osd_stays_on_black() -> None:
    from datetime import UTC, datetime

    black = _picture("black")
    draw_osd(black, "CONG UBND XA", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert black.max() == 255
    assert black.mean() < 12


def test_example_scenario_is_valid() -> None:
    import agent.simulator

    path = Path(agent.simulator.__file__).parent / "example_scenario.yaml"
    cams = expand_cameras(load_scenario(path))
    assert len(cams) == 7
    assert cams[3].id == "nvr-ngo-1"
