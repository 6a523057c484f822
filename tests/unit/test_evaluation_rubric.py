"""The evaluation rubric: bands, missing values, completeness, errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.evaluation.period import PeriodError, parse_start, period_for
from api.evaluation.rubric import DEFAULT_RUBRIC, NO_DATA, Rubric
from collector.yaml_rules import RuleProblem, RulesError

SMALL = """\
name: thu
version: "1"
criteria:
  - id: working
    label: Hoạt động
    metric: working_ratio
    max_points: 10
    min_completeness: 0.5
    bands:
      - {min: 0.9, points: 10, grade: Tốt}
      - {min: 0.5, points: 5, grade: Khá}
  - id: repair
    label: Sửa chữa
    metric: p90_repair_hours
    max_points: 4
    missing: {points: 4, grade: Không có sự cố}
    bands:
      - {max: 24, points: 4}
      - {max: 72, points: 2}
grades:
  - {min: 0.9, grade: A}
  - {min: 0.0, grade: B}
"""


def _load(tmp_path: Path, text: str) -> Rubric:
    path = tmp_path / "rubric.yaml"
    path.write_text(text, encoding="utf-8")
    return Rubric.load(path)


def _only_problem(tmp_path: Path, text: str) -> RuleProblem:
    with pytest.raises(RulesError) as info:
        _load(tmp_path, text)
    (problem,) = info.value.problems
    assert problem.path == str(tmp_path / "rubric.yaml")
    return problem


def test_default_rubric_loads_and_is_100_points() -> None:
    rubric = Rubric.load()
    assert rubric.name == "camnet-mac-dinh"
    assert sum(c.max_points for c in rubric.criteria) == 100
    assert len(rubric.sha256) == 64
    assert rubric.sha256 == Rubric.load(DEFAULT_RUBRIC).sha256


@pytest.mark.parametrize(
    ("value", "points", "grade"),
    [(0.95, 10, "Tốt"), (0.9, 10, "Tốt"), (0.89, 5, "Khá"), (0.5, 5, "Khá"), (0.49, 0, None)],
)
def test_higher_is_better_bands(tmp_path: Path, value: float, points: float, grade: str) -> None:
    score = _load(tmp_path, SMALL).score({"working_ratio": value}, completeness=1.0)
    working = score.criteria[0]
    assert (working.points, working.grade) == (points, grade)


@pytest.mark.parametrize(("hours", "points"), [(10, 4), (24, 4), (25, 2), (72, 2), (73, 0)])
def test_lower_is_better_bands(tmp_path: Path, hours: float, points: float) -> None:
    score = _load(tmp_path, SMALL).score({"p90_repair_hours": hours}, completeness=1.0)
    assert score.criteria[1].points == points


def test_missing_value_and_low_completeness(tmp_path: Path) -> None:
    rubric = _load(tmp_path, SMALL)
    score = rubric.score({"working_ratio": 0.95, "p90_repair_hours": None}, completeness=1.0)
    assert (score.points, score.max_points, score.complete, score.grade) == (14, 14, True, "A")
    assert score.criteria[1].grade == "Không có sự cố"
    thin = rubric.score({"working_ratio": 0.95, "p90_repair_hours": 5}, completeness=0.4)
    assert thin.criteria[0].points is None
    assert thin.criteria[0].reason == NO_DATA
    assert thin.criteria[1].points == 4  # no completeness floor on this criterion
    assert (thin.complete, thin.grade, thin.points) == (False, None, 4)


def test_unknown_metric_names_line_and_choices(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, SMALL.replace("metric: working_ratio", "metric: uptime"))
    assert problem.line == 4  # the criterion's line
    assert "unknown metric 'uptime'" in problem.message
    assert "working_ratio" in problem.hint


def test_band_on_the_wrong_side(tmp_path: Path) -> None:
    text = SMALL.replace("- {max: 24, points: 4}", "- {min: 24, points: 4}")
    problem = _only_problem(tmp_path, text)
    assert "band 1 needs max" in problem.message
    assert problem.line == 18


def test_bands_out_of_order_and_points_above_max(tmp_path: Path) -> None:
    swapped = SMALL.replace("{min: 0.9, points: 10", "{min: 0.4, points: 10")
    assert "out of order" in _only_problem(tmp_path, swapped).message
    big = SMALL.replace("{min: 0.5, points: 5", "{min: 0.5, points: 50")
    assert "points above max_points" in _only_problem(tmp_path, big).message


def test_unknown_key_and_bad_yaml(tmp_path: Path) -> None:
    text = SMALL.replace("max_points: 4", "max_points: 4\n    colour: do")
    problem = _only_problem(tmp_path, text)
    assert problem.line == 16
    assert "colour" in problem.key
    assert _only_problem(tmp_path, "name: [").line == 1


def test_period_start_parsing() -> None:
    assert parse_start("16/11") == (16, 11)
    assert parse_start(" 1 / 1 ") == (1, 1)
    for bad in ("11-16", "31/11", "29/2", "x"):
        with pytest.raises(PeriodError, match="16/11"):
            parse_start(bad)
    with pytest.raises(PeriodError, match=r"2000\.\.2100"):
        period_for(1999)
    period = period_for(2024)  # 16/11/2023 .. 15/11/2024: a leap year, 366 days
    assert (period.end - period.start).days == 366
