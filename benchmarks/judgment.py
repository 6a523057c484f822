"""Benchmark of the picture judgment: precision, recall, false alarms and time per frame.

Run ``python -m benchmarks.judgment`` (about a minute): it prints the "Picture judgment"
section and writes it into ``docs/benchmarks.md``, leaving the other sections alone.
Thresholds were tuned on seed 1; the figures reported use seed 2026 (``--seed``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from agent.history import CameraHistory
from agent.quality import ANALYSIS_WIDTH, Thresholds, judge
from benchmarks.judgment_set import PARAMS, PICTURE, Sample, generate

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
FAULTS = (*PICTURE, "frozen", "moved")
T0 = datetime(2024, 5, 12, 10, 0, tzinfo=UTC)
LIMITS = [
    "Limits, read before trusting the figures:",
    "",
    "- Seven photographs (six colour, one grey) make every scene; real camera footage, "
    "rain, headlights at night and moving crowds are not in the set.",
    "- Noise is defined on the 640-wide analysis grid: fine per-pixel noise on a 1080p "
    "picture averages away when scaled and is neither generated nor reported.",
    "- A colour cast is only certain against the camera's own hour baseline; on a first "
    "probe only flagrant casts are reported (see the first-probe F1).",
    "- `frozen` relies on something changing in a live picture, in practice the OSD clock; "
    "a camera with no OSD looking at a perfectly still scene would read as frozen.",
    "- Zooming into a flat part of the scene reads as `covered`, not `moved`; a `moved` view "
    "zoomed 1.3-1.6x upscales a small photograph up to 3x and is really soft, so some are "
    "also reported `blurred` (counted as blurred false detections).",
    "- Figures were measured once on the reporting seed, after tuning on seed 1; the misses "
    "there were not studied, so as not to tune on it.",
    "- Every frame is JPEG-compressed; H.264/H.265 keyframes, which are what the agent "
    "actually decodes (blockier at low bitrates, deblocked), are not in the set yet.",
    "- Time: the headline is the second row, a frame already 640 wide, as the agent hands it "
    "over (PyAV scales while decoding). The first row adds OpenCV's 1080p to 640 INTER_AREA "
    "resize (about 4 ms on this 2-vCPU VM), which the agent does not run. Timings on this VM "
    "vary by about 20 % from run to run.",
]


def run_one(s: Sample, th: Thresholds) -> tuple[set[str], set[str] | None]:
    """Judge a sample as a camera would; return its faults with history and on a first probe.

    The history holds hour baselines from ``th.baseline_samples`` healthy probes of the
    same view (``s.baseline``), the reference and the previous frame when the sample has
    them. The first-probe verdict (no history at all) is given for single frames only.
    """
    history = CameraHistory()
    if s.baseline is not None:
        usual = judge(s.baseline, None, th, T0).metrics
        colour = (usual["colour_rg"], usual["colour_bg"])
        day = usual["saturation"] >= th.colour_saturation
        for _ in range(th.baseline_samples):
            history.add_baseline(
                T0.hour, usual["sharpness"], usual["brightness"], colour if day else None
            )
    if s.reference is not None:
        history.set_reference(s.reference)
    if s.previous is not None:
        judge(s.previous, history, th, T0)
    found = set(judge(s.frame, history, th, T0 + timedelta(seconds=60)).faults)
    first = None if s.previous is not None else set(judge(s.frame, None, th, T0).faults)
    return found, first


def timing(frames: list[np.ndarray], th: Thresholds) -> dict[str, float]:
    """Time judge on 1080p frames with a full history (last frame and reference), one core."""
    cv2.setNumThreads(1)
    history = CameraHistory()
    history.set_reference(frames[0])
    judge(frames[0], history, th, T0)
    small = [
        cv2.resize(f, (ANALYSIS_WIDTH, ANALYSIS_WIDTH * 9 // 16), interpolation=cv2.INTER_AREA)
        for f in frames
    ]
    out: dict[str, float] = {}
    for label, batch in (("1080p", frames), ("640", small)):
        times = []
        for rep in range(3):
            for i, f in enumerate(batch):
                t = time.perf_counter()
                judge(f, history, th, T0 + timedelta(seconds=60 * (rep * len(batch) + i + 1)))
                times.append((time.perf_counter() - t) * 1000)
        out[f"{label}_mean"] = float(np.mean(times))
        out[f"{label}_p95"] = float(np.percentile(times, 95))
    return out


def report(seed: int, per_fault: int, clean: int, pairs: int) -> tuple[str, str]:
    """Run the benchmark; return the markdown section and a confusion table for tuning."""
    th = Thresholds()
    counts: dict[str, Counter[str]] = defaultdict(Counter)  # "tp:black", ... per mode
    kinds: Counter[str] = Counter()
    alarms: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    hd: list[np.ndarray] = []
    start = time.perf_counter()
    for s in generate(seed, per_fault, clean, pairs):
        found, first = run_one(s, th)
        kinds[s.kind] += 1
        confusion[s.kind].update(found or {"-"})
        for mode, faults in (("history", found), ("first", first)):
            if faults is None:
                continue
            for f in FAULTS:
                hit, want = f in faults, f in s.labels
                counts[mode]["tp" if hit and want else "fp" if hit else "fn" if want else "tn"] += 0
                counts[mode][f"{'tp' if want else 'fp'}:{f}"] += hit
                counts[mode][f"fn:{f}"] += want and not hit
            if not s.labels:
                alarms[mode][s.kind] += bool(faults)
        if s.size == (1920, 1080) and len(hd) < 60:
            hd.append(s.frame)
    t = timing(hd, th)
    elapsed = time.perf_counter() - start
    rows = []
    for f in FAULTS:
        cells = []
        for mode in ("history", "first"):
            c = counts[mode]
            tp, fp, fn = c[f"tp:{f}"], c[f"fp:{f}"], c[f"fn:{f}"]
            if tp + fn == 0:
                cells.append("—")
                continue
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn)
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            cells.append(
                f"{p:.3f} | {r:.3f} | {f1:.3f} | {fp}" if mode == "history" else f"{f1:.3f}"
            )
        n = counts["history"][f"tp:{f}"] + counts["history"][f"fn:{f}"]
        rows.append(f"| `{f}` | {n} | {cells[0]} | {cells[1]} |")
    clean_kinds = [
        k for k in kinds if k in ("clean", "night", "compressed") or k.startswith("pair")
    ]
    n_clean = sum(kinds[k] for k in clean_kinds)
    n_alarm = sum(alarms["history"][k] for k in clean_kinds)
    n_single = sum(kinds[k] for k in ("clean", "night", "compressed"))
    n_first = sum(alarms["first"].values())
    alarm_rows = [
        f"| {k} | {kinds[k]} | {alarms['history'][k]} | "
        f"{alarms['first'][k] if not k.startswith('pair') else '—'} |"
        for k in clean_kinds
    ]
    param_rows = [f"| {k} | {v} |" for k, v in PARAMS.items()]
    md = "\n".join(
        [
            "## Picture judgment",
            "",
            "Reproduce (about a minute, one process): "
            f"`.venv/bin/python -m benchmarks.judgment --seed {seed}`. "
            "Thresholds are the defaults of `agent.quality.Thresholds`, tuned on seed 1; "
            f"the figures below use seed {seed}. Run time this time: {elapsed:.0f} s.",
            "",
            "The set is made from the photographs that ship with scikit-image, at 1920x1080, "
            "1280x720 and 640x360, with an OSD clock and camera name burnt in and JPEG "
            "compression (`benchmarks/judgment_set.py`). Each fault frame carries one fault; "
            "`frozen` and `moved` are frame pairs judged with a history (the first frame is "
            "the reference and the previous frame, the second is judged 60 s later).",
            "",
            "| Parameter | Range |",
            "|---|---|",
            *param_rows,
            "",
            "With history: the camera's hour baselines come from "
            f"{th.baseline_samples} healthy probes of the same view; pairs also have the "
            "reference and the previous frame. First probe: the same single frames judged "
            "with no history at all (no baselines, so colour casts are judged from the frame "
            "alone).",
            "",
            "| Fault | Frames with it | Precision | Recall | F1 | False detections "
            "| F1 first probe |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"False alarms on clean frames with history: **{n_alarm} of {n_clean} "
            f"({100 * n_alarm / max(n_clean, 1):.2f} %)**; on a first probe: "
            f"{n_first} of {n_single} ({100 * n_first / max(n_single, 1):.2f} %).",
            "",
            "| Clean kind | Frames | With any fault | First probe: with any fault |",
            "|---|---|---|---|",
            *alarm_rows,
            "",
            f"Judging time per frame, one core (`cv2.setNumThreads(1)`), {len(hd)} 1080p "
            "frames x 3 with a full history:",
            "",
            "| Input | Mean ms | p95 ms |",
            "|---|---|---|",
            f"| 1920x1080, including the INTER_AREA resize | {t['1080p_mean']:.2f} "
            f"| {t['1080p_p95']:.2f} |",
            f"| already {ANALYSIS_WIDTH} wide (the agent asks PyAV to scale) "
            f"| {t['640_mean']:.2f} | {t['640_p95']:.2f} |",
            "",
            *LIMITS,
            "",
        ]
    )
    conf = "\n".join(f"{k:14s} {dict(confusion[k])}" for k in kinds)
    return md, conf


def write_section(md: str, doc: Path = DOC) -> None:
    """Replace (or append) the '## Picture judgment' section of ``doc``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Picture judgment\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: md.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + md
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-fault", type=int, default=50)
    parser.add_argument("--clean", type=int, default=140, help="frames per clean kind")
    parser.add_argument("--pairs", type=int, default=50, help="pairs per pair kind")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--confusion", action="store_true", help="print detections by kind")
    args = parser.parse_args(argv)
    md, conf = report(args.seed, args.per_fault, args.clean, args.pairs)
    print(md)
    if args.confusion:
        print(conf, file=sys.stderr)
    if not args.no_write:
        write_section(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
