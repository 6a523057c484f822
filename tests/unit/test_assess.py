"""``camnet assess`` as a user runs it: images in, one JSON verdict out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from agent.assess import add_parser


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="camnet")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["assess", *argv])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    args = parse(*argv)
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"
    img = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (1280, 720))
    cv2.putText(img, "2024-05-12 10:00:00", (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1, (255,) * 3, 2)
    cv2.imwrite(str(path), img)
    return path


def test_a_good_picture_is_ok(capsys: pytest.CaptureFixture[str], scene: Path) -> None:
    code, report, _ = run(capsys, str(scene), "--json")
    assert code == 0
    assert report["status"] == "ok"
    assert report["faults"] == []
    assert report["images"][0]["image"] == str(scene)
    assert "sharpness" in report["images"][0]["metrics"]


def test_the_same_picture_twice_is_frozen(capsys: pytest.CaptureFixture[str], scene: Path) -> None:
    code, report, _ = run(capsys, str(scene), str(scene))
    assert code == 0
    assert [r["faults"] for r in report["images"]] == [[], ["frozen"]]
    assert report["status"] == "down"


def test_black_picture_and_reference(
    capsys: pytest.CaptureFixture[str], scene: Path, tmp_path: Path
) -> None:
    black = tmp_path / "black.jpg"
    cv2.imwrite(str(black), np.zeros((360, 640, 3), np.uint8))
    code, report, _ = run(capsys, "--reference", str(scene), str(black))
    assert code == 0
    assert report["faults"] == ["black"]
    assert report["status"] == "down"


def test_a_threshold_changes_the_verdict(capsys: pytest.CaptureFixture[str], scene: Path) -> None:
    _, report, _ = run(capsys, str(scene), "--threshold", "too_dark_brightness=250")
    assert report["faults"] == ["too_dark"]
    assert report["status"] == "degraded"


@pytest.mark.parametrize("bad", ["nonsense=1", "noise_sigma", "noise_sigma=abc"])
def test_a_wrong_threshold_is_an_error(
    capsys: pytest.CaptureFixture[str], scene: Path, bad: str
) -> None:
    code, report, err = run(capsys, str(scene), "--threshold", bad)
    assert code == 2
    assert report == {}
    assert "threshold" in err


def test_a_missing_file_is_named_in_the_error(
    capsys: pytest.CaptureFixture[str], scene: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.jpg"
    code, report, err = run(capsys, str(scene), str(missing))
    assert code == 2
    assert report == {}
    assert str(missing) in err
    assert "cannot read image" in err
