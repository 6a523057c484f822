"""Task rules: defaults, the example file, and errors that name file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.task_rules import RulesError, TaskRules

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "tasks.example.yaml"


def test_defaults() -> None:
    rules = TaskRules()
    assert rules.grace.seconds("offline") == 900
    assert rules.grace.seconds("black") == 900
    assert rules.grace.seconds("covered") == 1800
    assert rules.grace.seconds("blurred") == 3600
    assert rules.grace.seconds("moved") == 3600
    assert rules.grace.seconds("too_dark") == 1800  # unset: default
    assert rules.grace.seconds("no_such_problem") == 1800
    assert rules.sla_hours.hours("hotspot") == 24
    assert rules.sla_hours.hours("main_road") == 48
    assert rules.sla_hours.hours("border") == 48
    assert rules.sla_hours.hours("normal") == 72
    assert rules.sla_hours.hours("weird") == 72
    assert (rules.verify_probes, rules.reopen_days) == (3, 7)
    assert (rules.escalate_district_after_hours, rules.site_grace) == (24, 900)


def test_the_example_file_documents_the_defaults() -> None:
    assert TaskRules.load(EXAMPLE) == TaskRules()
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in TaskRules.model_fields:
        assert f"\n{key}:" in text, key


def test_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("grace:\n  covered: 600\n  default: 100\nsla_hours:\n  hotspot: 12\n")
    rules = TaskRules.load(path)
    assert rules.grace.seconds("covered") == 600
    assert rules.grace.seconds("too_bright") == 100
    assert rules.grace.seconds("offline") == 900
    assert rules.sla_hours.hours("hotspot") == 12
    assert rules.sla_hours.hours("normal") == 72


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("# nothing\n")
    assert TaskRules.load(path) == TaskRules()


def test_a_misspelt_key_names_file_line_and_the_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("verify_probes: 3\ngrace:\n  offline: 900\n  coverd: 60\n")
    with pytest.raises(RulesError) as info:
        TaskRules.load(path)
    (problem,) = info.value.problems
    assert (problem.path, problem.line, problem.key) == (str(path), 4, "grace.coverd")
    assert "covered" in problem.hint
    assert "xoá đi hoặc sửa chính tả" in problem.hint
    assert str(problem).startswith(f"{path}:4: grace.coverd:")


def test_every_bad_value_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("verify_probes: 0\nreopen_days: many\nsla_hours:\n  hotspot: -1\n")
    with pytest.raises(RulesError) as info:
        TaskRules.load(path)
    found = {(p.line, p.key) for p in info.value.problems}
    assert found == {(1, "verify_probes"), (2, "reopen_days"), (4, "sla_hours.hotspot")}
    by_key = {p.key: p for p in info.value.problems}
    assert "'many'" in by_key["reopen_days"].message
    assert "write a number" in by_key["reopen_days"].hint


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("grace:\n  offline: 900\n bad: [\n")
    with pytest.raises(RulesError) as info:
        TaskRules.load(path)
    (problem,) = info.value.problems
    assert problem.line is not None
    assert problem.line >= 3
    assert "thụt lề" in problem.hint


def test_not_a_mapping_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(RulesError, match="not a mapping"):
        TaskRules.load(path)
    with pytest.raises(RulesError, match="cannot read"):
        TaskRules.load(tmp_path / "missing.yaml")
