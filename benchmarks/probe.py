"""Benchmark of the probe: camnet against an ffmpeg subprocess and OpenCV in a process pool.

Run ``python -m benchmarks.probe`` (about two minutes on two cores). It starts
``camnet simulate`` with 200 healthy H.264 cameras (25 fps, a keyframe every 2 s) in a
separate process pinned to the second core, pins itself to the first core, and probes every
camera once per method over TCP:

* camnet: ``agent.probe.probe_many`` (network on the event loop, decode and judge in threads);
* ffmpeg: one ``ffmpeg -rtsp_transport tcp -i URL -frames:v 1 -f null -`` per camera;
* OpenCV: ``cv2.VideoCapture(url, cv2.CAP_FFMPEG).read()`` in a ``ProcessPoolExecutor``;
* floor: ``decode_and_judge`` on keyframes fetched beforehand, in a loop, no network.

CPU is ``getrusage``: RUSAGE_SELF for camnet (threads included), RUSAGE_CHILDREN for the
subprocesses (counted once they are reaped). It prints the "Probe" section and writes it,
one subsection per resolution, into ``docs/benchmarks.md``, leaving other sections alone.
``--profile FILE`` also writes a cProfile of one camnet round (event-loop thread only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
CACHE = Path.home() / ".cache" / "camnet" / "simulator"
SCENES = 6  # healthy_config cycles the six scenes: cameras 1..6 show each one once
TARGET_VS_FFMPEG = 20.0
TARGET_VS_FLOOR = 1.5
TARGET_PER_MINUTE = 2000.0


@dataclass
class Figures:
    """What one method did over a set of cameras."""

    method: str
    probes: int = 0
    ok: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def cpu_per_probe(self) -> float:
        return self.cpu / max(self.probes, 1)

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = f"{statistics.median(lat):.2f}" if lat else "-"
        p95 = f"{lat[min(len(lat) - 1, int(0.95 * len(lat)))]:.2f}" if lat else "-"
        rate = f"{self.probes / self.wall:.1f}" if self.wall else "-"
        per_min = f"{self.probes / self.cpu * 60:,.0f}" if self.cpu else "-"
        return (
            f"| {self.method} | {self.probes} | {self.ok} | {self.wall:.1f} | {rate} "
            f"| {self.cpu_per_probe * 1000:.1f} | {per_min} | {p50} | {p95} |"
        )


HEADER = (
    "| method | probes | ok | wall s | probes/s | CPU ms/probe | probes/min/core "
    "| p50 s | p95 s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# --- simulator -------------------------------------------------------------------------


def _free_base_port(count: int) -> int:
    """Return the first of ``count`` consecutive free TCP ports on 127.0.0.1."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports")


@contextlib.contextmanager
def simulator(cameras: int, width: int, height: int, core: int | None) -> Iterator[list[str]]:
    """Run ``camnet simulate`` in its own process; yield its camera URLs."""
    cmd = [
        *[sys.executable, "-m", "agent.simulator.cli"],
        *["--cameras", str(cameras), "--codec", "h264"],
        *["--width", str(width), "--height", str(height)],
        *["--base-port", str(_free_base_port(cameras)), "--control-port", "0"],
        *["--cache", str(CACHE)],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        if core is not None:
            os.sched_setaffinity(proc.pid, {core})
        assert proc.stdout is not None
        urls: list[str] = []
        for line in proc.stdout:  # first run encodes the clips: can take a minute at 1080p
            urls += re.findall(r"rtsp://\S+", line)
            if "Ctrl-C" in line:
                break
        if len(urls) != cameras:
            raise RuntimeError(f"simulator printed {len(urls)} URLs, expected {cameras}")
        yield urls
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- methods ---------------------------------------------------------------------------


async def _camnet_round(urls: list[str], concurrency: int, fig: Figures) -> None:
    from agent.probe import probe_many
    from agent.rtsp import ProbeOptions

    async for report in probe_many(urls, ProbeOptions(transport="tcp"), concurrency):
        fig.probes += 1
        fig.latencies.append(report.timings.get("total", 0.0))
        if report.status == "ok":
            fig.ok += 1
        else:
            fig.failures.append(f"{report.url}: {report.status} {report.cause} {report.faults}")


def bench_camnet(
    urls: list[str], concurrency: int, rounds: int, profile: Path | None = None
) -> Figures:
    """Probe every camera ``rounds`` times with ``probe_many``; CPU of this process."""
    fig = Figures("camnet `probe_many`")
    asyncio.run(_camnet_round(urls[:2], 2, Figures("warm-up")))  # imports, codec tables
    for _ in range(rounds):
        cpu, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
        asyncio.run(_camnet_round(urls, concurrency, fig))
        fig.wall += time.perf_counter() - t0
        fig.cpu += _cpu(resource.RUSAGE_SELF) - cpu
    if profile is not None:
        import cProfile

        with cProfile.Profile() as prof:
            asyncio.run(_camnet_round(urls, concurrency, Figures("profile")))
        prof.dump_stats(profile)
    return fig


async def _ffmpeg_all(urls: list[str], concurrency: int, fig: Figures) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str) -> None:
        async with gate:
            t0 = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                *["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp"],
                *["-i", url, "-frames:v", "1", "-f", "null", "-"],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            fig.latencies.append(time.perf_counter() - t0)
            fig.probes += 1
            if proc.returncode == 0:
                fig.ok += 1
            else:
                fig.failures.append(f"{url}: exit {proc.returncode} {err.decode()[-200:]!r}")

    async with asyncio.TaskGroup() as group:
        for url in urls:
            group.create_task(one(url))


def bench_ffmpeg(urls: list[str], concurrency: int) -> Figures:
    """One ffmpeg process per camera; CPU of the reaped children."""
    fig = Figures("ffmpeg subprocess")
    cpu, t0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    asyncio.run(_ffmpeg_all(urls, concurrency, fig))
    fig.wall = time.perf_counter() - t0
    fig.cpu = _cpu(resource.RUSAGE_CHILDREN) - cpu
    return fig


def _cv2_warm(_: int) -> None:
    import cv2  # noqa: F401 - the import is the warm-up

    time.sleep(0.2)  # keep this worker busy so the next warm-up task starts another one


def _cv2_grab(url: str) -> tuple[bool, float, float]:
    import cv2

    cpu, t0 = time.process_time(), time.perf_counter()
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    return bool(ok and frame is not None), time.perf_counter() - t0, time.process_time() - cpu


def bench_cv2(urls: list[str], workers: int) -> tuple[Figures, float]:
    """``cv2.VideoCapture`` per camera in a process pool; return figures, in-worker CPU."""
    import multiprocessing

    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    fig = Figures("OpenCV `VideoCapture`, process pool")
    cpu = _cpu(resource.RUSAGE_CHILDREN)
    in_worker = 0.0
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        list(pool.map(_cv2_warm, range(2 * workers)))  # spawn and import before the clock
        t0 = time.perf_counter()
        for url, (ok, wall, used) in zip(urls, pool.map(_cv2_grab, urls), strict=True):
            fig.probes += 1
            fig.ok += ok
            fig.latencies.append(wall)
            in_worker += used
            if not ok:
                fig.failures.append(f"{url}: no frame")
        fig.wall = time.perf_counter() - t0
    fig.cpu = _cpu(resource.RUSAGE_CHILDREN) - cpu  # workers are reaped by the shutdown
    fig.note = f"{workers} spawned workers; pool start and cv2 import included in CPU"
    return fig, in_worker / max(fig.probes, 1)


def _per_iteration(fn: Callable[[], object], n: int) -> float:
    fn()  # warm-up: lazy imports, first allocations
    cpu = _cpu(resource.RUSAGE_SELF)
    for _ in range(n):
        fn()
    return (_cpu(resource.RUSAGE_SELF) - cpu) / n


def bench_floor(urls: list[str], iterations: int) -> dict[str, float]:
    """CPU of decode + judge in process, on one keyframe per scene; also its parts."""
    from agent import quality
    from agent.decode import analysis_image, decode_keyframe
    from agent.probe import CameraSpec, decode_and_judge
    from agent.rtsp import Keyframe, ProbeOptions, fetch_keyframe

    async def fetch() -> list[Keyframe]:
        loop = asyncio.get_running_loop()
        options = ProbeOptions(transport="tcp")
        return [
            await fetch_keyframe(u, options, loop.time() + options.timeout) for u in urls[:SCENES]
        ]

    keyframes = asyncio.run(fetch())
    at, spec, limits = datetime.now(UTC), CameraSpec(), quality.Thresholds()
    n = max(1, iterations // len(keyframes))
    frames = [decode_keyframe(k.codec, k.bitstream) for k in keyframes]
    images = [analysis_image(f, quality.ANALYSIS_WIDTH) for f in frames]
    parts: dict[str, list[Callable[[], object]]] = {
        "floor": [partial(decode_and_judge, k, None, None, at, spec) for k in keyframes],
        "decode": [partial(decode_keyframe, k.codec, k.bitstream) for k in keyframes],
        "scale": [partial(analysis_image, f, quality.ANALYSIS_WIDTH) for f in frames],
        "judge": [partial(quality.judge, i, None, limits, at) for i in images],
    }
    out = {name: statistics.mean(_per_iteration(f, n) for f in fns) for name, fns in parts.items()}
    out["keyframe_kib"] = statistics.mean(len(k.bitstream) for k in keyframes) / 1024
    return out


# --- report ----------------------------------------------------------------------------


def _machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(
    args: argparse.Namespace, rows: list[Figures], floor: dict[str, float], cv2_worker: float
) -> str:
    """Return the markdown subsection for this resolution."""
    from agent.quality import ANALYSIS_WIDTH

    camnet, ffmpeg = rows[0], rows[1]
    cpu = camnet.cpu_per_probe
    vs_ffmpeg = ffmpeg.cpu_per_probe / cpu
    vs_floor = cpu / floor["floor"]
    per_min = 60 / cpu
    cmd = (
        f"python -m benchmarks.probe --cameras {args.cameras} --width {args.width} "
        f"--height {args.height} --concurrency {args.concurrency} --rounds {args.rounds}"
    )
    lines = [
        f"### {args.width}x{args.height}",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}; probing pinned to one core, "
        f"the simulator on another. {args.cameras} healthy H.264 cameras, 25 fps, GOP 2 s, "
        f"TCP, concurrency {args.concurrency}; camnet over {args.rounds} round(s).",
        "",
        f"Reproduce: `{cmd}`",
        "",
        HEADER,
        *(f.row() for f in rows),
        f"| floor: decode + judge in process | - | - | - | - | {floor['floor'] * 1000:.1f} "
        f"| {60 / floor['floor']:,.0f} | - | - |",
        "",
        f"Floor parts per keyframe ({floor['keyframe_kib']:.0f} KiB): decode "
        f"{floor['decode'] * 1000:.1f} ms, scale to {ANALYSIS_WIDTH} wide "
        f"{floor['scale'] * 1000:.1f} ms, "
        f"judge {floor['judge'] * 1000:.1f} ms. OpenCV in-worker CPU per probe (no pool start): "
        f"{cv2_worker * 1000:.1f} ms.",
        *(f"{f.method}: {f.note}." for f in rows if f.note),
        "",
        f"- CPU per probe ≤ 1/{TARGET_VS_FFMPEG:g} of the ffmpeg subprocess: ffmpeg uses "
        f"{vs_ffmpeg:.1f}x camnet's CPU — {_verdict(vs_ffmpeg >= TARGET_VS_FFMPEG)}.",
        f"- CPU per probe ≤ {TARGET_VS_FLOOR:g}x the floor: camnet is {vs_floor:.2f}x the floor "
        f"— {_verdict(vs_floor <= TARGET_VS_FLOOR)}.",
        f"- ≥ {TARGET_PER_MINUTE:,.0f} probes per minute on one core: {per_min:,.0f} "
        f"— {_verdict(per_min >= TARGET_PER_MINUTE)}.",
    ]
    return "\n".join(lines) + "\n"


INTRO = (
    "## Probe\n\n"
    "CPU and time per probe of camnet against the usual ways of grabbing one frame, on the "
    "RTSP simulator (`python -m benchmarks.probe`, see its docstring). probes/min/core is "
    "probes per CPU-minute; wall time is bound by the keyframe interval (a probe joins "
    "mid-GOP and waits for the next IDR), not by CPU. On the 2-vCPU VM below, CPU figures vary "
    "by about 20 % from run to run; compare rows of one run, not runs.\n\n"
)


def write_section(sub: str, title: str, doc: Path = DOC) -> None:
    """Put ``sub`` (a ``### title`` subsection) into the '## Probe' section of ``doc``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n\n"
    section = re.compile(r"^## Probe\n.*?(?=^## |\Z)", re.S | re.M)
    found = section.search(text)
    body = found.group(0) if found else INTRO
    parts = re.split(r"(?=^### )", body, flags=re.M)
    intro, subs = parts[0], [p.rstrip("\n") + "\n\n" for p in parts[1:]]
    mine = f"### {title}\n"
    subs = [s for s in subs if not s.startswith(mine)] + [sub.rstrip("\n") + "\n\n"]
    subs.sort(key=lambda s: _pixels(s.split("\n", 1)[0]))
    new = (intro.rstrip("\n") + "\n\n" + "".join(subs)).rstrip("\n") + "\n\n"
    if found:
        text = text[: found.start()] + new + text[found.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + new
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def _pixels(heading: str) -> int:
    """Sort key: resolution subsections by size, any other subsection after them."""
    m = re.match(r"### (\d+)x(\d+)$", heading)
    return int(m.group(1)) * int(m.group(2)) if m else sys.maxsize


def main(argv: list[str] | None = None) -> int:
    """Run the probe benchmark; print the section and write it into docs/benchmarks.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.probe", description=__doc__)
    p.add_argument("--cameras", type=int, default=200)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2, help="camnet rounds over all cameras")
    p.add_argument("--cv2-cameras", type=int, default=None, help="OpenCV subset (all)")
    p.add_argument("--floor-iterations", type=int, default=300)
    p.add_argument("--profile", type=Path, default=None, help="cProfile of one camnet round")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    if args.cameras < SCENES:
        p.error(f"--cameras must be at least {SCENES} (one per scene)")

    from agent.decode import keep_freed_memory

    # As `camnet probe` and `camnet agent` do; the floor runs in this process too, so it is
    # measured the same way. ffmpeg and OpenCV run with their own defaults.
    keep_freed_memory()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    sim_core = cores[1] if len(cores) >= 2 else None
    if sim_core is not None:
        os.sched_setaffinity(0, {cores[0]})  # threads and children started later inherit
    print(f"starting {args.cameras} cameras at {args.width}x{args.height}...", flush=True)
    with simulator(args.cameras, args.width, args.height, sim_core) as urls:
        floor = bench_floor(urls, args.floor_iterations)
        print(f"floor {floor['floor'] * 1000:.1f} ms; camnet...", flush=True)
        camnet = bench_camnet(urls, args.concurrency, args.rounds, args.profile)
        print("ffmpeg...", flush=True)
        ffmpeg = bench_ffmpeg(urls, args.concurrency)
        print("OpenCV...", flush=True)
        cv2_urls = urls[: args.cv2_cameras] if args.cv2_cameras else urls
        cv2_fig, cv2_worker = bench_cv2(cv2_urls, args.concurrency)
    rows = [camnet, ffmpeg, cv2_fig]
    for fig in rows:
        for failure in fig.failures[:10]:
            print(f"FAILED {fig.method}: {failure}")
    sub = render(args, rows, floor, cv2_worker)
    print(sub)
    if not args.no_write:
        write_section(sub, f"{args.width}x{args.height}")
        print(f"written to {DOC}")
    if args.profile is not None:
        import pstats

        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)
    return 1 if any(f.failures for f in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
