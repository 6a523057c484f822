"""The scoring rubric: thresholds on the figures → points and a grade per criterion.

A rubric is a YAML file (the documented default: ``api/evaluation/rubric.default.yaml``;
``camnet evaluate --rubric FILE`` or ``CAMNET_API_EVALUATION_RUBRIC`` for another). Each
criterion reads one metric of :data:`METRICS`, walks its bands in order and takes the
first band the value reaches (``min`` for metrics where higher is better, ``max`` where
lower is better). A value that cannot be said (no task to time, no key area) takes the
criterion's ``missing`` band when it has one, else the criterion is not scored; a
commune whose data completeness is below ``min_completeness`` is not scored on that
criterion either ("không đủ dữ liệu") — missing data is never turned into points.
The total grade is the first of ``grades`` whose ``min`` share of the points is reached.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.evaluation.schema import Criterion, RubricRef, Score
from collector.yaml_rules import load_yaml_model, rule_error

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.default.yaml")
DOCS = "docs/evaluation.md"
#: Metrics a criterion may read, and whether higher is better.
METRICS: dict[str, bool] = {
    "working_ratio": True,
    "good_picture_ratio": True,
    "working_ratio_known": True,
    "completeness": True,
    "within_sla_ratio": True,
    "coverage_hotspot": True,
    "coverage_main_road": True,
    "coverage_village_border": True,
    "coverage_area": True,
    "down_days_per_camera": False,
    "longest_outage_days": False,
    "mean_repair_hours": False,
    "p90_repair_hours": False,
    "gaps_at_end": False,
    "repairable_gaps_at_end": False,
}
NO_DATA = "không đủ dữ liệu / not enough data"


class Band(BaseModel):
    """Points (and a grade) for values reaching ``min`` (or at most ``max``)."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    points: float = Field(ge=0)
    grade: str = ""


class Missing(BaseModel):
    """What a criterion gives when its value cannot be said (e.g. no task to time)."""

    model_config = ConfigDict(extra="forbid")

    points: float = Field(ge=0)
    grade: str = ""


class RubricCriterion(BaseModel):
    """One criterion: a metric, its bands, and when it is not scored."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    label_en: str = ""
    metric: str
    max_points: float = Field(gt=0)
    bands: list[Band] = Field(min_length=1)
    missing: Missing | None = None
    min_completeness: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> RubricCriterion:
        if self.metric not in METRICS:
            known = ", ".join(METRICS)
            raise rule_error(f"unknown metric {self.metric!r}", f"dùng / use one of: {known}")
        higher = METRICS[self.metric]
        key = "min" if higher else "max"
        for n, band in enumerate(self.bands):
            if (band.min if higher else band.max) is None or (band.max if higher else band.min):
                better = "cao hơn tốt hơn / higher is better" if higher else "thấp hơn tốt hơn"
                hint = f"{self.metric}: {better}; mỗi mức ghi '{key}:' / each band needs '{key}:'"
                raise rule_error(f"band {n + 1} needs {key}", hint, "bands", n)
            if band.points > self.max_points:
                hint = f"tối đa / at most max_points = {self.max_points:g}"
                raise rule_error("points above max_points", hint, "bands", n, "points")
        limits = [b.min if higher else b.max for b in self.bands]
        if limits != sorted(limits, reverse=higher):  # type: ignore[type-var]
            order = "giảm dần / decreasing" if higher else "tăng dần / increasing"
            raise rule_error(f"bands out of order on {key}", f"xếp {order}", "bands")
        return self

    def band(self, value: float) -> Band | None:
        """The first band ``value`` reaches, or None (no points)."""
        higher = METRICS[self.metric]
        for band in self.bands:
            limit = band.min if higher else band.max
            assert limit is not None  # checked at load
            if (value >= limit) if higher else (value <= limit):
                return band
        return None


class GradeBand(BaseModel):
    """The total grade for a share of the points at least ``min``."""

    model_config = ConfigDict(extra="forbid")

    min: float = Field(ge=0, le=1)
    grade: str


class Rubric(BaseModel):
    """A whole rubric file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    description: str = ""
    criteria: list[RubricCriterion] = Field(min_length=1)
    grades: list[GradeBand] = Field(default_factory=list)
    sha256: str = Field("", exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        seen: set[str] = set()
        for n, c in enumerate(self.criteria):
            if c.id in seen:
                raise rule_error(f"criterion {c.id!r} twice", "đặt id khác / rename", n, "id")
            seen.add(c.id)
        mins = [g.min for g in self.grades]
        if mins != sorted(mins, reverse=True):
            raise rule_error("grades out of order", "xếp min giảm dần / decreasing min")
        return self

    @classmethod
    def load(cls, path: str | Path | None = None) -> Rubric:
        """Read a rubric file (default: the documented default rubric).

        Raises:
            RulesError: every problem, naming the file, the line and the fix.
        """
        path = Path(path) if path is not None else DEFAULT_RUBRIC
        rubric = load_yaml_model(cls, path, DOCS)
        rubric.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        return rubric

    def ref(self) -> RubricRef:
        """The rubric as the result names it."""
        return RubricRef(name=self.name, version=self.version, sha256=self.sha256)

    def score(self, metrics: dict[str, float | None], completeness: float | None) -> Score:
        """Score one commune's ``metrics`` (see :data:`METRICS`)."""
        out: list[Criterion] = []
        for c in self.criteria:
            value = metrics.get(c.metric)
            points: float | None = None
            grade: str | None = None
            reason: str | None = None
            if completeness is None or completeness < c.min_completeness:
                reason = NO_DATA
            elif value is None:
                if c.missing is not None:
                    points, grade = c.missing.points, c.missing.grade or None
                else:
                    reason = "không có số liệu / no value"
            else:
                band = c.band(value)
                points, grade = (band.points, band.grade or None) if band else (0.0, None)
            out.append(
                Criterion(
                    id=c.id,
                    label=c.label,
                    metric=c.metric,
                    value=value,
                    points=points,
                    max_points=c.max_points,
                    grade=grade,
                    reason=reason,
                )
            )
        total = sum(c.points or 0.0 for c in out)
        most = sum(c.max_points for c in self.criteria)
        complete = all(c.points is not None for c in out)
        return Score(
            criteria=out,
            points=total,
            max_points=most,
            complete=complete,
            grade=self.grade(total / most) if complete else None,
        )

    def grade(self, share: float) -> str | None:
        """The total grade for ``share`` of the points."""
        for g in self.grades:
            if share >= g.min - 1e-12:
                return g.grade
        return None
