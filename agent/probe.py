"""Probe cameras: one keyframe each, judged, as one ``ProbeReport`` per camera.

``probe`` never raises for a camera's fault: a broken camera is a report with a cause.
``probe_many`` runs many with bounded concurrency; one bad camera cannot stop the others.
The network part runs on the event loop (``agent.rtsp``); decoding and judging run in a
thread pool (PyAV and OpenCV release the GIL), so slow pictures never stall the sockets.

``camnet probe URL... [--timeout S] [--concurrency N] [--transport auto|tcp|udp] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agent.errors import ProbeError
from agent.messages import Fault, ProbeReport, StreamInfo, redact_url, status_for
from agent.rtsp import Keyframe, ProbeOptions, fetch_keyframe

if TYPE_CHECKING:  # cv2 and numpy load only when a picture is judged
    import numpy as np
    from numpy.typing import NDArray

    from agent.history import CameraHistory
    from agent.quality import Thresholds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpec:
    """What the inventory declares for a camera; ``None`` means not declared."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio: bool | None = None


@dataclass
class Judged:
    """The outcome of decoding and judging one keyframe."""

    width: int
    height: int
    faults: list[Fault]
    metrics: dict[str, float]
    picture: NDArray[np.uint8] | None = None  # the analysis picture (BGR), for snapshots


def decode_and_judge(
    keyframe: Keyframe,
    history: CameraHistory | None,
    thresholds: Thresholds | None,
    at: datetime,
    spec: CameraSpec,
) -> Judged:
    """Decode ``keyframe`` and judge the picture and the stream (CPU; run in a thread)."""
    from agent import quality
    from agent.decode import analysis_image, decode_keyframe

    frame = decode_keyframe(keyframe.codec, keyframe.bitstream)
    image = analysis_image(frame, quality.ANALYSIS_WIDTH)
    limits = thresholds or quality.Thresholds()
    judgment = quality.judge(image, history, limits, at)
    faults = list(judgment.faults)
    faults += quality.stream_faults(
        spec.width,
        spec.height,
        spec.fps,
        spec.audio,
        frame.width,
        frame.height,
        keyframe.fps,
        keyframe.audio is not None,
        limits,
    )
    return Judged(frame.width, frame.height, faults, dict(judgment.metrics), image)


async def probe(
    url: str,
    options: ProbeOptions | None = None,
    *,
    camera_id: str | None = None,
    history: CameraHistory | None = None,
    thresholds: Thresholds | None = None,
    spec: CameraSpec | None = None,
    executor: Executor | None = None,
) -> ProbeReport:
    """Probe one camera and return its report; never raises for a camera's fault."""
    report, _ = await probe_with_picture(
        url,
        options,
        camera_id=camera_id,
        history=history,
        thresholds=thresholds,
        spec=spec,
        executor=executor,
    )
    return report


async def probe_with_picture(
    url: str,
    options: ProbeOptions | None = None,
    *,
    camera_id: str | None = None,
    history: CameraHistory | None = None,
    thresholds: Thresholds | None = None,
    spec: CameraSpec | None = None,
    executor: Executor | None = None,
) -> tuple[ProbeReport, NDArray[np.uint8] | None]:
    """Like :func:`probe`, and also return the judged picture (BGR, analysis size).

    The picture is ``None`` when the probe got none (the report has a cause); the agent
    turns it into a snapshot (evidence for a repair task).
    """
    options = options or ProbeOptions()
    picture = None
    loop = asyncio.get_running_loop()
    started = datetime.now(UTC)
    t0 = loop.time()
    report = ProbeReport(url=redact_url(url), camera_id=camera_id, probed_at=started, status="ok")
    try:
        async with asyncio.timeout(options.timeout + 2.0):  # safety net over the deadline
            keyframe = await fetch_keyframe(url, options, t0 + options.timeout)
        report.timings.update(keyframe.timings)
        report.stream = StreamInfo(codec=keyframe.codec, fps=keyframe.fps, audio=keyframe.audio)
        t1 = loop.time()
        judged = await loop.run_in_executor(
            executor, decode_and_judge, keyframe, history, thresholds, started, spec or CameraSpec()
        )
        report.timings["decode_judge"] = round(loop.time() - t1, 4)
    except ProbeError as exc:
        report.cause, report.detail = exc.cause, exc.detail
    except TimeoutError:
        report.cause, report.detail = "rtsp_timeout", "probe deadline passed"
    else:
        report.stream.width, report.stream.height = judged.width, judged.height
        report.faults, report.metrics = judged.faults, judged.metrics
        picture = judged.picture
    report.status = status_for(report.cause, report.faults)
    report.timings["total"] = round(loop.time() - t0, 4)
    return report, picture


async def probe_many(
    urls: Sequence[str],
    options: ProbeOptions | None = None,
    concurrency: int = 32,
    executor: Executor | None = None,
) -> AsyncIterator[ProbeReport]:
    """Probe ``urls`` with at most ``concurrency`` at once; yield reports as they finish."""
    gate = asyncio.Semaphore(max(1, concurrency))
    queue: asyncio.Queue[ProbeReport] = asyncio.Queue()

    async def one(url: str) -> None:
        async with gate:
            try:
                report = await probe(url, options, executor=executor)
            except Exception as exc:  # a bug must not stop the other cameras
                log.exception("probe of %s failed unexpectedly", redact_url(url))
                report = ProbeReport(
                    url=redact_url(url), status="down", cause="rtsp_error", detail=repr(exc)
                )
            await queue.put(report)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(u)) for u in urls]
        for _ in tasks:
            yield await queue.get()


def _human(report: ProbeReport) -> str:
    from agent.texts import STATUS_VI, what_is_wrong

    size = f"{report.stream.width}x{report.stream.height}" if report.stream.width else "-"
    return (
        f"{STATUS_VI[report.status]:<14} {report.url}  {report.stream.codec or '-'} {size}"
        f"  {report.timings.get('total', 0):.2f}s  {what_is_wrong(report)}"
    )


async def _run(args: argparse.Namespace) -> int:
    from agent.decode import keep_freed_memory

    keep_freed_memory()
    options = ProbeOptions(timeout=args.timeout, transport=args.transport)
    async for report in probe_many(args.urls, options, args.concurrency):
        line = report.model_dump_json() if args.json else _human(report)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def main(args: argparse.Namespace) -> int:
    """Handle ``camnet probe``."""
    if args.timeout <= 0 or args.concurrency < 1:
        sys.stderr.write("--timeout phải > 0 và --concurrency ≥ 1 (must be positive)\n")
        return 2
    return asyncio.run(_run(args))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``camnet probe`` to the subcommands."""
    p = sub.add_parser(
        "probe",
        help="kiểm tra camera RTSP một lần / probe RTSP cameras once",
        description="Kết nối, lấy một khung hình chính, đánh giá hình ảnh. "
        "Connect, fetch one keyframe, judge the picture. rtspt:// = TCP.",
    )
    p.add_argument("urls", nargs="+", metavar="URL", help="rtsp://[user:pass@]host[:port]/path")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per camera (10)")
    p.add_argument("--concurrency", type=int, default=32, help="cameras at once (32)")
    p.add_argument(
        "--transport", choices=["auto", "tcp", "udp"], default="auto", help="RTP transport"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=main)
