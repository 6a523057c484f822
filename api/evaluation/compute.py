"""Compute the yearly evaluation of a scope: :func:`evaluate`.

Steps (``progress`` is told each one, for the CLI's progress bar): communes and mergers,
cameras, the sums (camera-seconds per status and month and longest outages in SQL, repair
tasks, each camera's working time), coverage of key areas, waiting for the sums, then the
rubric. On PostgreSQL the sums run on a second connection in a thread while this one
computes the coverage (the database works on one core, Python on the other; the coverage
needs the working time only at its very end); on SQLite they run in turn. Figures per
commune are described in :mod:`api.evaluation.schema`; how each is computed in docs/evaluation.md.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.engine import Connection

from api.evaluation import figures
from api.evaluation.coverage import CoverageFigures, coverage, working_time
from api.evaluation.figures import CameraSpan, CommuneInfo, OutageRow, TaskRow
from api.evaluation.period import EvalPeriod, ms
from api.evaluation.result import digest
from api.evaluation.rubric import Rubric
from api.evaluation.schema import (
    CameraDays,
    Cameras,
    CommuneEvaluation,
    DistrictEvaluation,
    Evaluation,
    Gaps,
    Month,
    Outage,
    Period,
    Tasks,
)
from collector.coverage_time import Working
from collector.ratio import VN

DAY = 86_400_000  # milliseconds: the figures are added up in whole ms
STEPS = ("communes", "cameras", "sums", "coverage", "sums_wait", "score")
Sums = tuple[
    dict[str, list[dict[str, int]]],
    dict[str, OutageRow],
    dict[str, list[TaskRow]],
    dict[str, int],
    Working,
]
Progress = Callable[[str, int, int], None]  # step, index (1-based), number of steps


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _dt(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, UTC)


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def task_figures(rows: list[TaskRow], p0: float, u: float) -> Tasks:
    """Repair-task figures over ``[p0, u)`` (see docs/evaluation.md)."""
    fixed = [r for r in rows if r.fixed_at is not None and p0 <= r.fixed_at < u]
    hours = [(r.fixed_at - r.failed_at) / 3600.0 for r in fixed if r.fixed_at is not None]
    due = [r for r in rows if p0 <= r.deadline < u]
    in_time = [r for r in due if r.fixed_at is not None and r.fixed_at <= r.deadline]
    return Tasks(
        raised=sum(p0 <= r.opened_at < u for r in rows),
        closed=sum(r.closed_at is not None and p0 <= r.closed_at < u for r in rows),
        fixed=len(fixed),
        open_at_end=sum(
            r.opened_at < u
            and (r.fixed_at is None or r.fixed_at >= u)
            and (r.closed_at is None or r.closed_at >= u)
            for r in rows
        ),
        mean_repair_hours=statistics.fmean(hours) if hours else None,
        p90_repair_hours=_p90(hours),
        due=len(due),
        fixed_within_sla=len(in_time),
        within_sla_ratio=_ratio(len(in_time), len(due)),
    )


def _camera_counts(spans: list[CameraSpan], period: EvalPeriod, until: datetime) -> Cameras:
    first, last_day = period.first_day, (until - timedelta(microseconds=1)).astimezone(VN).date()

    def installed_on(day: object) -> int:
        return sum(
            (s.installed_on is None or s.installed_on <= day)  # type: ignore[operator]
            and (s.removed_on is None or s.removed_on > day)  # type: ignore[operator]
            for s in spans
        )

    length = ms(until) - ms(period.start)
    return Cameras(
        at_start=installed_on(first),
        at_end=installed_on(last_day),
        average=sum(s.b - s.a for s in spans) / length if length > 0 else 0.0,
        installed_during=sum(
            s.installed_on is not None and first <= s.installed_on <= period.last_day for s in spans
        ),
        removed_during=sum(
            s.removed_on is not None and first <= s.removed_on <= period.last_day for s in spans
        ),
    )


def _months(
    spans: list[CameraSpan], seconds: list[dict[str, int]] | None, period: EvalPeriod
) -> list[dict[str, int]]:
    """Per month: installed and per-status milliseconds, ``unknown`` being what is left."""
    buckets = period.months()
    rows: list[dict[str, int]] = [defaultdict(int) for _ in buckets]
    for k, row in enumerate(seconds or []):
        for status, value in row.items():
            rows[k][status] += value
    if spans:  # milliseconds of each span in each month (int64: exact)
        lo = np.array([m.start for m in buckets], np.int64)
        hi = np.array([m.end for m in buckets], np.int64)
        a = np.array([s.a for s in spans], np.int64)[:, np.newaxis]
        b = np.array([s.b for s in spans], np.int64)[:, np.newaxis]
        first = np.array([s.b if s.first_report is None else s.first_report for s in spans])
        never = np.minimum(first.astype(np.int64)[:, np.newaxis], b)
        installed = np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0, None).sum(axis=0)
        unseen = np.clip(np.minimum(never, hi) - np.maximum(a, lo), 0, None).sum(axis=0)
        for k in range(len(buckets)):
            rows[k]["installed"] += int(installed[k])
            if unseen[k]:
                rows[k]["never_reported"] += int(unseen[k])
    for row in rows:
        known = sum(row[k] for k in ("ok", "degraded", "down", "never_reported"))
        row["unknown"] = max(0, row["installed"] - known)
    return rows


def commune_figures(
    info: CommuneInfo,
    spans: list[CameraSpan],
    seconds: list[dict[str, int]] | None,
    outage: OutageRow | None,
    task_rows: list[TaskRow],
    cov: CoverageFigures | None,
    period: EvalPeriod,
    until: datetime,
    rubric: Rubric,
) -> CommuneEvaluation:
    """Every figure of one commune, scored."""
    months = _months(spans, seconds, period)
    total = {k: sum(m[k] for m in months) for k in ("installed", *figures.STATUSES)}
    installed = total["installed"]
    working = total["ok"] + total["degraded"]
    known = working + total["down"]
    tasks = task_figures(task_rows, period.start.timestamp(), until.timestamp())
    count = _camera_counts(spans, period, until)
    gaps = cov.gaps if cov else Gaps(total=0, repairable=0, no_camera=0, by_kind={})
    kinds = cov.kinds if cov else {}
    evaluation = CommuneEvaluation(
        code=info.code,
        name=info.name,
        district_code=info.district_code,
        district_name=info.district_name,
        province_code=info.province_code,
        merged_from=info.merged_from,
        cameras=count,
        camera_days=CameraDays(**{k: v / DAY for k, v in total.items()}),
        working_ratio=_ratio(working, installed),
        good_picture_ratio=_ratio(total["ok"], installed),
        unknown_ratio=_ratio(total["unknown"] + total["never_reported"], installed),
        completeness=_ratio(known, installed),
        working_ratio_known=_ratio(working, known),
        camera_days_down=total["down"] / DAY,
        longest_outage=Outage(
            camera_id=outage.camera_id,
            start=_dt(outage.start),
            end=_dt(outage.end),
            days=(outage.end - outage.start) / DAY,
            ongoing=outage.ongoing,
        )
        if outage
        else None,
        months=[
            Month(
                label=b.label,
                first_day=b.first_day,
                last_day=b.last_day,
                installed_days=m["installed"] / DAY,
                working_ratio=_ratio(m["ok"] + m["degraded"], m["installed"]),
                good_picture_ratio=_ratio(m["ok"], m["installed"]),
                unknown_ratio=_ratio(m["unknown"] + m["never_reported"], m["installed"]),
                down_days=m["down"] / DAY,
            )
            for b, m in zip(period.months(), months, strict=True)
        ],
        tasks=tasks,
        coverage=kinds,
        gaps_at_end=gaps,
        score=rubric.score({}, None),
    )
    metrics: dict[str, float | None] = {
        "working_ratio": evaluation.working_ratio,
        "good_picture_ratio": evaluation.good_picture_ratio,
        "working_ratio_known": evaluation.working_ratio_known,
        "completeness": evaluation.completeness,
        "within_sla_ratio": tasks.within_sla_ratio,
        "mean_repair_hours": tasks.mean_repair_hours,
        "p90_repair_hours": tasks.p90_repair_hours,
        "down_days_per_camera": _ratio(total["down"] / DAY, count.average),
        "longest_outage_days": evaluation.longest_outage.days if evaluation.longest_outage else 0.0,
        "gaps_at_end": float(gaps.total) if cov else None,
        "repairable_gaps_at_end": float(gaps.repairable) if cov else None,
    }
    for kind, figure in kinds.items():
        metrics[f"coverage_{kind}"] = figure.time_weighted
    evaluation.score = rubric.score(metrics, evaluation.completeness)
    return evaluation


def district_figures(rows: list[CommuneEvaluation]) -> list[DistrictEvaluation]:
    """The communes of each district added up."""
    groups: dict[str | None, list[CommuneEvaluation]] = defaultdict(list)
    for row in rows:
        groups[row.district_code].append(row)
    out: list[DistrictEvaluation] = []
    for code, group in sorted(groups.items(), key=lambda kv: kv[0] or ""):
        days = {
            k: sum(getattr(r.camera_days, k) for r in group)
            for k in ("installed", *figures.STATUSES)
        }
        known = days["ok"] + days["degraded"] + days["down"]
        due = sum(r.tasks.due for r in group)
        scored = [r.score.points for r in group if r.score.complete]
        out.append(
            DistrictEvaluation(
                code=code,
                name=group[0].district_name,
                communes=len(group),
                cameras_average=sum(r.cameras.average for r in group),
                camera_days=CameraDays(**days),
                working_ratio=_ratio(days["ok"] + days["degraded"], days["installed"]),
                good_picture_ratio=_ratio(days["ok"], days["installed"]),
                completeness=_ratio(known, days["installed"]),
                tasks_raised=sum(r.tasks.raised for r in group),
                tasks_fixed=sum(r.tasks.fixed for r in group),
                within_sla_ratio=_ratio(sum(r.tasks.fixed_within_sla for r in group), due),
                points_mean=statistics.fmean(scored) if scored else None,
            )
        )
    return out


def evaluate(
    conn: Connection,
    period: EvalPeriod,
    rubric: Rubric,
    *,
    scope: Collection[str] | None = None,
    scope_name: str = "all",
    now: datetime | None = None,
    progress: Progress | None = None,
    with_coverage: bool = True,
) -> Evaluation:
    """The evaluation of the communes in ``scope`` (final codes; None: all) over ``period``."""
    now = now or datetime.now(UTC)
    until = period.until(now)

    def step(name: str) -> None:
        if progress is not None:
            progress(name, STEPS.index(name) + 1, len(STEPS))

    step("communes")
    info, final = figures.communes(conn, period, scope)
    step("cameras")
    spans = figures.cameras(conn, period, until, final)
    by_commune: dict[str, list[CameraSpan]] = defaultdict(list)
    for span in spans.values():
        by_commune[span.commune].append(span)

    def sums(c: Connection) -> Sums:
        seconds = figures.status_seconds(c, period, until, final)
        outages = figures.longest_outages(c, period, until, final)
        working = working_time(c, spans, final, period.start, until) if with_coverage else {}
        tasks = figures.tasks(c, period, until, final)
        return seconds, outages, tasks, figures.first_reports(c, final), working

    step("sums")
    with ExitStack() as stack:
        pending: Future[Sums] | None = None
        done: Sums | None = None
        if conn.dialect.name == "postgresql":
            other = stack.enter_context(conn.engine.connect())
            pool = stack.enter_context(ThreadPoolExecutor(1, "camnet-evaluate-sql"))
            pending = pool.submit(sums, other)
        else:
            done = sums(conn)
        step("coverage")

        def working() -> Working:
            return (pending.result() if pending is not None else done or ({}, {}, {}, {}, {}))[4]

        cov = coverage(conn, spans, final, period.start, until, working) if with_coverage else {}
        step("sums_wait")
        if pending is not None:
            done = pending.result()
    assert done is not None  # computed above, in turn or in the thread
    seconds, outages, task_rows, first, _ = done
    for span in spans.values():
        span.first_report = first.get(span.id)
    step("score")
    rows = [
        commune_figures(
            info[code],
            by_commune.get(code, []),
            seconds.get(code),
            outages.get(code),
            task_rows.get(code, []),
            cov.get(code),
            period,
            until,
            rubric,
        )
        for code in sorted(info)
    ]
    result = Evaluation(
        period=Period(
            year=period.year,
            first_day=period.first_day,
            last_day=period.last_day,
            start=period.start,
            end=period.end,
            data_until=until,
            finished=until >= period.end,
        ),
        rubric=rubric.ref(),
        scope=scope_name,
        computed_at=now,
        communes=rows,
        districts=district_figures(rows),
        sha256="",
    )
    result.sha256 = digest(result)
    return result
