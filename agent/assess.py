"""``camnet assess``: judge still images as consecutive frames of one camera.

Useful to check a camera's snapshot by hand, or to see what a threshold does::

    camnet assess --reference good.jpg now.jpg --threshold noise_sigma=12 --json

The images are judged in the order given, one second apart, with one history, so the
second of two identical pictures is ``frozen``; with ``--reference`` the view is compared
with that picture (``moved``). The output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.messages import status_for


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add the ``assess`` subcommand to ``sub`` and return its parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "assess",
        help="Đánh giá ảnh tĩnh / judge still images as frames of one camera",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMG", help="images, in order")
    p.add_argument("--reference", type=Path, metavar="IMG", help="the view the camera should keep")
    p.add_argument("--json", action="store_true", help="compact JSON on one line")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one threshold (see agent.quality.Thresholds); may repeat",
    )
    p.set_defaults(handler=run)
    return p


def _thresholds(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--threshold {pair!r}: viết KEY=VALUE / write KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> int:
    """Judge the images of ``args``; print one JSON object; return the exit code."""
    import cv2  # here, not at the top: `camnet --help` stays free of OpenCV

    from agent.history import CameraHistory
    from agent.quality import Thresholds, judge

    try:
        thresholds = Thresholds.model_validate(_thresholds(args.threshold))
    except (ValueError, ValidationError) as exc:
        sys.stderr.write(f"Ngưỡng không hợp lệ / invalid threshold: {exc}\n")
        return 2

    def read(path: Path) -> Any:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            sys.stderr.write(
                f"Không đọc được ảnh / cannot read image: {path} "
                "(kiểm tra đường dẫn và định dạng / check the path and that it is a picture)\n"
            )
        return image

    history = CameraHistory()
    if args.reference is not None:
        ref = read(args.reference)
        if ref is None:
            return 2
        history.set_reference(ref)
    start = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    for i, path in enumerate(args.images):
        image = read(path)
        if image is None:
            return 2
        j = judge(image, history, thresholds, start + timedelta(seconds=i))
        metrics = {k: round(v, 4) for k, v in j.metrics.items()}
        results.append({"image": str(path), "faults": j.faults, "metrics": metrics})
    faults = results[-1]["faults"]
    report = {"status": status_for(None, faults), "faults": faults, "images": results}
    sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0
