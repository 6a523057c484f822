"""Stream behaviours and the control endpoint, seen from real connections."""

from __future__ import annotations

import asyncio
import itertools
import struct

import numpy as np
import pytest

from tests import simulator_fixtures as fx
from tests.simulator_fixtures import (
    RtspClient,
    SimFactory,
    basic_auth,
    decode_frames,
    digest_auth,
    ffprobe,
    h264_nal_types,
    http,
    strip_credentials,
)

# Fixtures, until tests/conftest.py lists tests.simulator_fixtures in pytest_plugins.
simulator = fx.simulator
sim_cache_dir = fx.sim_cache_dir

IDR_OR_PARAMS = {5, 7, 8}


async def test_refuse_closes_the_port_and_healthy_reopens_it(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "fault": "refuse"}]})
    port = sim.cameras["c"].port
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await sim.set_fault("c", "healthy")
    client = await RtspClient.connect(port)
    code, headers, _ = await client.request("OPTIONS", sim.cameras["c"].url)
    assert code == 200
    assert "DESCRIBE" in headers["public"]
    await sim.set_fault("c", "refuse")  # drops the open connection too
    assert await asyncio.wait_for(client.reader.read(), 5) == b""
    await client.close()


async def test_silent_accepts_but_never_answers(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "fault": "silent"}]})
    client = await RtspClient.connect(sim.cameras["c"].port)
    with pytest.raises(TimeoutError):
        await client.request("OPTIONS", sim.cameras["c"].url, limit=1.0)
    await client.close()


@pytest.mark.parametrize("mode", ["basic", "digest"])
async def test_wrong_credentials_get_401_again(simulator: SimFactory, mode: str) -> None:
    sim = await simulator({"cameras": [{"id": "c", "auth": mode}]})
    url, user, password = strip_credentials(sim.cameras["c"].url)
    client = await RtspClient.connect(sim.cameras["c"].port)
    code, headers, _ = await client.request("DESCRIBE", url)
    assert code == 401
    challenge = headers["www-authenticate"]
    assert challenge.lower().startswith(mode)
    assert 'realm="' in challenge

    def creds(pw: str) -> dict[str, str]:
        if mode == "basic":
            return basic_auth(user, pw)
        return digest_auth(challenge, "DESCRIBE", url, user, pw)

    code, _, _ = await client.request("DESCRIBE", url, creds("wrong"))
    assert code == 401
    code, headers, body = await client.request("DESCRIBE", url, creds(password))
    assert code == 200
    assert "a=rtpmap:96 H264/90000" in body
    assert "sprop-parameter-sets=" in body
    assert headers["content-base"].endswith("/live/")
    await client.close()


async def test_auth_fault_rejects_the_right_credentials(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "auth": "basic", "fault": "auth"}]})
    url, user, password = strip_credentials(sim.cameras["c"].url)
    client = await RtspClient.connect(sim.cameras["c"].port)
    code, _, _ = await client.request("DESCRIBE", url, basic_auth(user, password))
    assert code == 401
    await client.close()


async def test_not_found_and_wrong_path_answer_404(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "fault": "not_found"}, {"id": "d"}]})
    for cam_id, url in (("c", sim.cameras["c"].url), ("d", sim.cameras["d"].url + "/nope")):
        client = await RtspClient.connect(sim.cameras[cam_id].port)
        code, _, _ = await client.request("DESCRIBE", url.replace("/live/nope", "/nope"))
        assert code == 404
        await client.close()


async def test_no_rtp_plays_but_sends_nothing(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "fault": "no_rtp"}]})
    client = await RtspClient.connect(sim.cameras["c"].port)
    code, _ = await client.play_tcp(sim.cameras["c"].url)
    assert code == 200
    assert await client.read_rtp(1.0) == []
    await client.close()


async def test_no_keyframe_stream_has_no_idr_sps_pps(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "fault": "no_keyframe"}]})
    client = await RtspClient.connect(sim.cameras["c"].port)
    code, _ = await client.play_tcp(sim.cameras["c"].url)
    assert code == 200
    packets = await client.read_rtp(2.5)  # more than two 1 s GOPs
    assert len(packets) > 20
    assert not {h264_nal_types(p) for _, p in packets} & IDR_OR_PARAMS
    await client.close()


async def test_rtp_timing_marker_and_mid_gop_join(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": f"c{i}"} for i in range(5)]})
    first_types, sizes = [], []
    for cam in sim.cameras.values():
        client = await RtspClient.connect(cam.port)
        code, headers = await client.play_tcp(cam.url)
        assert code == 200
        assert "seq=" in headers["rtp-info"]
        assert "rtptime=" in headers["rtp-info"]
        packets = [p for ch, p in await client.read_rtp(0.5) if ch == 0]
        await client.close()
        first_types.append(h264_nal_types(packets[0]))
        seqs = [struct.unpack_from("!H", p, 2)[0] for p in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        stamps = sorted({struct.unpack_from("!I", p, 4)[0] for p in packets})
        assert {b - a for a, b in itertools.pairwise(stamps)} == {3600}  # 25 fps
        marked = [struct.unpack_from("!I", p, 4)[0] for p in packets if p[1] & 0x80]
        assert len(marked) == len(set(marked))  # one marker per picture
        # every picture has its marker; the read window may cut the last one short
        assert set(stamps[:-1]) <= set(marked)
        sizes.append(max(len(p) for p in packets))
    assert max(sizes) <= 1400 + 12 + 2
    # Each camera is somewhere in its GOP: a client does not always start on an IDR.
    assert any(t not in IDR_OR_PARAMS for t in first_types), first_types


async def test_control_endpoint_switches_faults(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "a", "auth": "digest"}, {"id": "b"}]})
    assert sim.control is not None
    port = sim.control.port
    code, cams = await http(port, "GET", "/cameras")
    assert code == 200
    assert [c["id"] for c in cams] == ["a", "b"]
    assert all(c["fault"] == "healthy" for c in cams)
    assert "camnet123" not in str(cams)  # URLs carry no password

    bright = await decode_frames(sim.cameras["a"].url, count=1)
    assert bright[0].mean() > 60
    code, state = await http(port, "POST", "/cameras/a", {"fault": "black"})
    assert (code, state["fault"]) == (200, "black")
    dark = await decode_frames(sim.cameras["a"].url, count=1)
    assert dark[0].mean() < 12  # black picture; only the OSD text is bright
    assert np.percentile(dark[0], 50) < 5

    code, state = await http(port, "POST", "/cameras/a", {"fault": "healthy"})
    assert (code, state["fault"]) == (200, "healthy")
    code, err = await http(port, "POST", "/cameras/zz", {"fault": "black"})
    assert code == 404
    assert "zz" in err["error"]
    code, err = await http(port, "POST", "/cameras/a", {"fault": "purple"})
    assert code == 400
    assert "purple" in err["error"]
    code, _ = await http(port, "POST", "/cameras/a", None)
    assert code == 400


async def test_no_audio_drops_the_audio_track(simulator: SimFactory) -> None:
    sim = await simulator({"cameras": [{"id": "c", "audio": "pcmu"}]})
    kinds = [s["codec_type"] for s in await ffprobe(sim.cameras["c"].url)]
    assert kinds == ["video", "audio"]
    await sim.set_fault("c", "no_audio")
    kinds = [s["codec_type"] for s in await ffprobe(sim.cameras["c"].url)]
    assert kinds == ["video"]


async def test_timeline_applies_faults_over_time(simulator: SimFactory) -> None:
    sim = await simulator(
        {
            "cameras": [{"id": "c"}],
            "timeline": [
                {"at": "200ms", "camera": "c", "fault": "refuse"},
                {"at": "0.6s", "camera": "*", "fault": "healthy"},
            ],
        }
    )
    assert sim.cameras["c"].behaviour == "healthy"
    await asyncio.sleep(0.45)
    assert sim.cameras["c"].behaviour == "refuse"
    await asyncio.sleep(0.5)
    assert sim.cameras["c"].behaviour == "healthy"
