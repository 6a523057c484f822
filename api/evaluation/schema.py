"""The yearly evaluation's result: the JSON contract (``docs/evaluation/evaluation.schema.json``).

One :class:`Evaluation` per year and scope: the period, the rubric it was scored with, the
figures of every commune (merged communes under their new code) and of every district,
and the SHA-256 of the whole (:func:`api.evaluation.result.digest`). Ratios are fractions
(0..1); durations are days or hours as the field names say; ``None`` means "cannot be
said" (nothing installed, no task, no key area), never zero.

The time of each installed camera falls in exactly one of ``ok``, ``degraded``, ``down``,
``unknown`` (its agent was offline or silent) and ``never_reported`` (no report yet): the
working ratio counts ``ok`` + ``degraded`` over all installed time, so unknown time is
never counted as working; ``completeness`` says how much of the time was known at all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_ID = "camnet/evaluation/v1"
COVERAGE_KINDS = ("hotspot", "main_road", "village_border", "area")


class Period(BaseModel):
    """The evaluation period: local (Asia/Ho_Chi_Minh) dates, both inclusive."""

    year: int = Field(description="The year the period ends in (16/11/Y-1 .. 15/11/Y).")
    first_day: date
    last_day: date
    timezone: str = "Asia/Ho_Chi_Minh"
    start: datetime = Field(description="UTC instant the period begins.")
    end: datetime = Field(description="UTC instant after the period's last day.")
    data_until: datetime = Field(description="Figures count time up to here (now, or end).")
    finished: bool = Field(description="False while the period is still running.")


class RubricRef(BaseModel):
    """Which rubric scored the figures."""

    name: str
    version: str
    sha256: str = Field(description="SHA-256 of the rubric file's bytes.")


class Cameras(BaseModel):
    """Installed cameras: counts at the period's edges and the time-weighted average."""

    at_start: int
    at_end: int
    average: float = Field(description="Installed camera-time / period time (pro rata).")
    installed_during: int = Field(description="Cameras installed inside the period.")
    removed_during: int = Field(description="Cameras removed inside the period.")


class CameraDays(BaseModel):
    """Camera-days per status (installed time only)."""

    installed: float
    ok: float
    degraded: float
    down: float
    unknown: float
    never_reported: float


class Outage(BaseModel):
    """The longest unbroken stretch of ``down`` of one camera inside the period."""

    camera_id: str
    start: datetime
    end: datetime
    days: float
    ongoing: bool = Field(description="Still down at the end of the data.")


class Month(BaseModel):
    """One calendar month of the period (the first and last are partial)."""

    label: str = Field(description="MM/YYYY")
    first_day: date
    last_day: date
    installed_days: float
    working_ratio: float | None
    good_picture_ratio: float | None
    unknown_ratio: float | None
    down_days: float


class Tasks(BaseModel):
    """Repair tasks: raised, closed and fixed inside the period."""

    raised: int
    closed: int
    fixed: int = Field(description="Tasks whose camera (or site) worked again in the period.")
    open_at_end: int
    mean_repair_hours: float | None = Field(description="Failure to fixed, tasks fixed.")
    p90_repair_hours: float | None
    due: int = Field(description="Tasks whose deadline (SLA) fell inside the period.")
    fixed_within_sla: int = Field(description="Of those, fixed by their deadline.")
    within_sla_ratio: float | None


class KindCoverage(BaseModel):
    """Coverage of one kind of key area."""

    time_weighted: float | None = Field(description="Covered share over the period.")
    at_end: float | None = Field(description="Covered share at the end of the data.")
    total: float = Field(description="Metres (lines), m² (areas) or weight (hotspots).")


class Gaps(BaseModel):
    """Unseen pieces of key areas at the end of the data."""

    total: int
    repairable: int = Field(description="Broken registered cameras would see them.")
    no_camera: int = Field(description="No installed camera would see them.")
    by_kind: dict[str, int]


class Criterion(BaseModel):
    """One rubric criterion scored: the value, the band it fell in, the points."""

    id: str
    label: str
    metric: str
    value: float | None
    points: float | None = Field(description="None: not scored (no data, see reason).")
    max_points: float
    grade: str | None
    reason: str | None = Field(default=None, description="Why it was not scored.")


class Score(BaseModel):
    """The rubric's result for one commune."""

    criteria: list[Criterion]
    points: float
    max_points: float
    complete: bool = Field(description="False when a criterion could not be scored.")
    grade: str | None


class CommuneEvaluation(BaseModel):
    """Every figure of one commune (a merged commune carries its old communes' history)."""

    code: str
    name: str
    district_code: str | None
    district_name: str | None
    province_code: str
    merged_from: list[str] = Field(description="Old communes whose history is included.")
    cameras: Cameras
    camera_days: CameraDays
    working_ratio: float | None = Field(description="(ok + degraded) / installed time.")
    good_picture_ratio: float | None = Field(description="ok / installed time.")
    unknown_ratio: float | None = Field(description="(unknown + never_reported) / installed.")
    completeness: float | None = Field(description="Share of installed time with reports.")
    working_ratio_known: float | None = Field(description="(ok + degraded) / known time.")
    camera_days_down: float
    longest_outage: Outage | None
    months: list[Month]
    tasks: Tasks
    coverage: dict[str, KindCoverage] = Field(description="Per kind of key area it has.")
    gaps_at_end: Gaps
    score: Score


class DistrictEvaluation(BaseModel):
    """A district's communes added up (time-weighted over all their cameras)."""

    code: str | None
    name: str | None
    communes: int
    cameras_average: float
    camera_days: CameraDays
    working_ratio: float | None
    good_picture_ratio: float | None
    completeness: float | None
    tasks_raised: int
    tasks_fixed: int
    within_sla_ratio: float | None
    points_mean: float | None


class Evaluation(BaseModel):
    """The yearly evaluation of a scope (some communes, a district, a province)."""

    schema_id: Literal["camnet/evaluation/v1"] = Field("camnet/evaluation/v1", alias="schema")
    period: Period
    rubric: RubricRef
    scope: str = Field(description="all | district:CODE | province:CODE | communes:C1,C2...")
    computed_at: datetime
    communes: list[CommuneEvaluation]
    districts: list[DistrictEvaluation]
    sha256: str = Field(
        description="SHA-256 of this document's canonical JSON without computed_at, sha256 "
        "and record (api.evaluation.result.digest)."
    )
    record: int | None = Field(default=None, description="Id of the recorded result.")
    previous_sha256: str | None = Field(
        default=None, description="The last recorded result of the same year, scope, rubric."
    )
    changed: bool | None = Field(
        default=None, description="True when the figures differ from the previous record."
    )

    model_config = {"populate_by_name": True}


SCHEMA_URL = "https://camnet.example/schemas/evaluation/v1.json"


def json_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of :class:`Evaluation` as serialised."""
    schema = Evaluation.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_URL,
        "title": "camnet yearly evaluation (An toàn về ANTT, camera part)",
        **schema,
    }
