"""``Simulator``: many simulated cameras, their clips, the fault timeline, the control port.

Usage::

    async with Simulator(healthy_config(3)) as sim:
        url = sim.cameras["cam-001"].url
        await sim.set_fault("cam-001", "black")

Clips are encoded lazily in a private two-thread pool (joined on exit), once per distinct
(scene, fault, codec, size, fps, GOP, length) and cached on disk when ``cache_dir`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from agent.simulator.control import ControlServer
from agent.simulator.errors import UnknownCameraError, UnknownFaultError
from agent.simulator.media import Clip, ClipKey, load_clip
from agent.simulator.rtp import Track, aac_track, pcmu_track, video_track
from agent.simulator.rtsp_server import RtspCamera
from agent.simulator.scenario import (
    BEHAVIOURS,
    PICTURE_FAULTS,
    CameraSpec,
    SimulatorConfig,
    expand_cameras,
)
from agent.simulator.streamer import LiveStream

log = logging.getLogger(__name__)


class Simulator:
    """Run simulated RTSP cameras on 127.0.0.1 (an async context manager)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.specs: list[CameraSpec] = expand_cameras(config)
        self.cameras: Mapping[str, RtspCamera] = {}
        self.control: ControlServer | None = None
        self.started_at = 0.0
        self._executor: ThreadPoolExecutor | None = None
        self._clips: dict[ClipKey, asyncio.Future[Clip]] = {}
        self._tracks: dict[tuple[Any, ...], Track] = {}
        self._timeline: asyncio.Task[None] | None = None
        ids = {s.id for s in self.specs}
        for event in config.timeline:
            if event.camera != "*" and event.camera not in ids:
                raise UnknownCameraError(f"timeline names unknown camera {event.camera!r}")

    @property
    def control_url(self) -> str | None:
        """Base URL of the HTTP control endpoint, if enabled."""
        return self.control.url if self.control is not None else None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Encode (or load) the clips needed now, open every listener and the control port."""
        cfg = self.config
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="camnet-sim-enc")
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        cameras: dict[str, RtspCamera] = {}
        for i, spec in enumerate(self.specs):
            port = spec.port or (cfg.base_port + i if cfg.base_port else 0)
            stream = LiveStream(cfg.host, seed=cfg.seed * 100_003 + i)
            cameras[spec.id] = RtspCamera(spec, cfg.host, port, stream)
        self.cameras = cameras
        try:
            await asyncio.gather(*(self._apply(c, c.spec.fault) for c in cameras.values()))
            if cfg.control_port is not None:
                self.control = ControlServer(self, cfg.host, cfg.control_port)
                await self.control.start()
        except BaseException:
            await self.stop()
            raise
        if cfg.timeline:
            self._timeline = asyncio.create_task(self._run_timeline(), name="camnet-sim-timeline")

    async def stop(self) -> None:
        """Stop the timeline, the control port and every camera; join the encoder threads."""
        if self._timeline is not None:
            self._timeline.cancel()
            await asyncio.gather(self._timeline, return_exceptions=True)
            self._timeline = None
        if self.control is not None:
            await self.control.stop()
            self.control = None
        await asyncio.gather(*(c.close() for c in self.cameras.values()))
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def set_fault(self, camera_id: str, fault: str) -> RtspCamera:
        """Switch ``camera_id`` to ``fault`` (``healthy`` repairs); return the camera."""
        cam = self.cameras.get(camera_id)
        if cam is None:
            raise UnknownCameraError(f"no camera {camera_id!r}")
        if fault not in BEHAVIOURS:
            raise UnknownFaultError(f"unknown fault {fault!r}; use one of {', '.join(BEHAVIOURS)}")
        await self._apply(cam, fault, restart=True)
        log.info("camera %s -> %s", camera_id, fault)
        return cam

    def state(self) -> list[dict[str, Any]]:
        """Return id, URL without password, port, fault and spec summary of every camera."""
        return [
            {
                "id": c.spec.id,
                "url": c.public_url,
                "port": c.port,
                "fault": c.behaviour,
                "codec": c.spec.codec,
                "width": c.spec.width,
                "height": c.spec.height,
                "fps": c.spec.fps,
                "audio": c.spec.audio,
                "auth": c.spec.auth,
                "scene": c.spec.scene,
                "playing": len(c.stream.sessions),
            }
            for c in self.cameras.values()
        ]

    async def _apply(self, cam: RtspCamera, fault: str, restart: bool = False) -> None:
        video = await self._video(cam.spec, fault)
        audio = None
        if cam.spec.audio == "aac":
            audio = aac_track()
        elif cam.spec.audio == "pcmu":
            audio = pcmu_track()
        await cam.apply(fault, video, audio, restart)

    async def _video(self, spec: CameraSpec, fault: str) -> Track:
        picture = fault if fault in PICTURE_FAULTS else "healthy"
        day = datetime.now(UTC).astimezone().date().isoformat()
        key = ClipKey(
            str(spec.scene),
            picture,
            spec.codec,
            spec.width,
            spec.height,
            spec.fps,
            spec.gop,
            self.config.clip_seconds,
            day,
        )
        strip = fault == "no_keyframe"
        tkey = (key, strip)
        track = self._tracks.get(tkey)
        if track is None:
            clip = await self._clip(key)
            track = video_track(clip.without_keyframes() if strip else clip, *_declared(spec))
            self._tracks[tkey] = track
        return track

    async def _clip(self, key: ClipKey) -> Clip:
        future = self._clips.get(key)
        if future is None:
            assert self._executor is not None
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, load_clip, key, self.config.cache_dir)
            self._clips[key] = future
        return await asyncio.shield(future)

    async def _run_timeline(self) -> None:
        loop = asyncio.get_running_loop()
        for event in sorted(self.config.timeline, key=lambda e: e.at):
            await asyncio.sleep(max(0.0, self.started_at + event.at - loop.time()))
            targets = list(self.cameras) if event.camera == "*" else [event.camera]
            for cid in targets:
                await self.set_fault(cid, event.fault)


def _declared(spec: CameraSpec) -> tuple[int, int, int]:
    return spec.width, spec.height, spec.fps
