"""The monitoring config of the compose form: Prometheus scrape config and Grafana dashboards.

Every metric and label a dashboard query names is looked up in the exposition of the real
metrics classes, so renaming a metric or a label fails here instead of leaving an empty
panel in production. With Debian's ``promtool`` installed, Prometheus' own parser checks
the scrape config, the file_sd example and every dashboard query.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from agent.config import AgentConfig
from agent.metrics import AgentMetrics
from alerts.metrics import AlertsMetrics
from alerts.service import AlertsSettings
from api.jobs import JobsMetrics, JobsSettings
from api.settings import ApiSettings
from collector.metrics import CollectorMetrics
from collector.settings import CollectorSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
AGENTS_EXAMPLE = DEPLOY / "prometheus" / "agents" / "agents.example.yml"
DATASOURCES_YML = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS_YML = DEPLOY / "grafana" / "provisioning" / "dashboards" / "camnet.yml"
DASHBOARD_DIR = DEPLOY / "grafana" / "dashboards"
YAML_FILES = sorted([*(DEPLOY / "prometheus").rglob("*.yml"), *(DEPLOY / "grafana").rglob("*.yml")])
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))

# Labels Prometheus attaches to every scraped sample; agents also get their file_sd labels.
TARGET_LABELS = {"job", "instance"}
METRIC = re.compile(r"\bcamnet_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(camnet_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
LABEL_VALUES = re.compile(
    r"label_values\(\s*(camnet_[a-z0-9_]+)[^,]*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)"
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_dashboard(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``node``, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[tuple[str, str, str]]:
    """(dashboard file, expression, legend format) of every dashboard query."""
    found = []
    for path in DASHBOARD_FILES:
        for panel in panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                found.append((path.name, target["expr"], target.get("legendFormat", "")))
    return found


def variable_queries() -> list[tuple[str, str]]:
    """(dashboard file, query) of every query template variable."""
    found = []
    for path in DASHBOARD_FILES:
        for variable in load_dashboard(path).get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                found.append((path.name, query if isinstance(query, str) else query["query"]))
    return found


def touch(holder: object) -> None:
    """Give every labelled metric on ``holder`` one child, so that it exposes samples.

    A labelled metric without children exposes no sample at all, hence no sample names
    and no label names to check against.
    """
    for metric in vars(holder).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(*["x"] * len(metric._labelnames))


def exposed(*holders: Any) -> dict[str, set[str]]:
    """Sample name (``_total``, ``_bucket`` … included) -> its label names, over all holders."""
    samples: dict[str, set[str]] = {}
    for holder in holders:
        touch(holder)
        registry: CollectorRegistry = holder.registry
        for family in registry.collect():
            for sample in family.samples:
                samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def file_sd_labels() -> set[str]:
    return {label for group in load_yaml(AGENTS_EXAMPLE) for label in group.get("labels", {})}


def available_labels(samples: dict[str, set[str]], metric: str) -> set[str]:
    """Labels a stored series of ``metric`` carries: its own plus the target labels."""
    labels = samples[metric] | TARGET_LABELS
    if metric.startswith("camnet_agent_"):
        labels |= file_sd_labels()
    return labels


def check_queries(samples: dict[str, set[str]], wanted: Any) -> list[str]:
    """What is wrong with the dashboard queries whose metrics satisfy ``wanted``."""
    problems = []
    checked = 0
    for source, expr, legend in queries():
        metrics = set(METRIC.findall(expr))
        if not metrics or not all(wanted(m) for m in metrics):
            continue
        checked += 1
        missing = sorted(m for m in metrics if m not in samples)
        if missing:
            problems.append(f"{source}: {missing} not exposed by any metrics class: {expr}")
            continue
        for metric, body in SELECTOR.findall(expr):
            for label in MATCHER.findall(QUOTED.sub('""', body)):
                if label not in available_labels(samples, metric):
                    problems.append(f"{source}: {metric} has no label {label!r}: {expr}")
        grouped: set[str] = set()
        for group in GROUPING.findall(expr):
            labels = {name.strip() for name in group.split(",") if name.strip()}
            grouped |= labels
            for metric in metrics:
                for label in sorted(labels - available_labels(samples, metric)):
                    problems.append(f"{source}: {metric} has no label {label!r}: {expr}")
        result_labels = grouped or set().union(*(available_labels(samples, m) for m in metrics))
        for label in LEGEND_LABEL.findall(legend):
            if label not in result_labels:
                problems.append(f"{source}: legend {{{{{label}}}}} is not in the result: {expr}")
    assert checked, "no dashboard query was checked"
    return problems


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_files_parse(path: Path) -> None:
    assert load_yaml(path) is not None


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_parses_and_is_well_formed(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"]
    assert dashboard["title"]
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['title']!r} is wider than the grid"
        if panel["type"] != "row":
            assert panel["targets"], f"panel {panel['title']!r} has no query"
            assert all(t["expr"].strip() for t in panel["targets"])


def test_the_overview_dashboard_is_there() -> None:
    overview = load_dashboard(DASHBOARD_DIR / "camnet-overview.json")
    assert overview["uid"] == "camnet-overview"
    assert overview["title"] == "camnet — Tổng quan / Overview"
    variables = {v["name"]: v for v in overview["templating"]["list"]}
    assert "$commune" in json.dumps(overview["panels"]), "no panel filters by $commune"
    assert "camnet_commune_working_ratio" in str(variables["commune"]["query"])
    uids = [load_dashboard(path)["uid"] for path in DASHBOARD_FILES]
    assert len(uids) == len(set(uids)), "two dashboards share a uid"


def test_datasource_uid_is_the_provisioned_one() -> None:
    datasources = load_yaml(DATASOURCES_YML)["datasources"]
    (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
    assert prometheus["name"] == "Prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    assert prometheus["isDefault"] is True
    interval = load_yaml(PROMETHEUS_YML)["global"]["scrape_interval"]
    assert prometheus["jsonData"]["timeInterval"] == interval
    for path in DASHBOARD_FILES:
        refs = [
            node["datasource"]
            for node in walk(load_dashboard(path))
            if isinstance(node.get("datasource"), dict)
            and node["datasource"].get("type") == "prometheus"
        ]
        assert refs, f"{path.name} names no Prometheus datasource"
        assert {ref["uid"] for ref in refs} == {prometheus["uid"]}, path.name
        for panel in panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel.get("datasource")
                assert ds == {"type": "prometheus", "uid": prometheus["uid"]}, panel["title"]


def test_dashboard_provider_loads_the_dashboard_folder() -> None:
    (provider,) = load_yaml(PROVIDERS_YML)["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "camnet"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert DASHBOARD_FILES, f"no dashboard in {DASHBOARD_DIR}"


def test_prometheus_scrapes_every_service_on_its_default_port() -> None:
    config = load_yaml(PROMETHEUS_YML)
    assert config["global"]["scrape_interval"] == "15s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {
        "prometheus",
        "camnet-collector",
        "camnet-api",
        "camnet-jobs",
        "camnet-alerts",
        "camnet-agents",
    }
    ports = {
        "camnet-collector": ("collector", CollectorSettings.model_fields["metrics_port"].default),
        "camnet-api": ("api", ApiSettings.model_fields["port"].default),
        "camnet-jobs": ("jobs", JobsSettings.model_fields["metrics_port"].default),
        "camnet-alerts": ("alerts", AlertsSettings.model_fields["metrics_port"].default),
    }
    for name, (service, port) in ports.items():
        targets = [t for group in jobs[name]["static_configs"] for t in group["targets"]]
        assert targets == [f"{service}:{port}"], name
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    assert jobs["camnet-api"]["metrics_path"] == "/metrics"


def test_agents_come_from_file_sd_and_the_example_matches() -> None:
    agents_job = next(
        job
        for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]
        if job["job_name"] == "camnet-agents"
    )
    assert "static_configs" not in agents_job
    (sd,) = agents_job["file_sd_configs"]
    assert sd["files"] == ["/etc/prometheus/agents/*.yml"]
    assert fnmatch.fnmatch(AGENTS_EXAMPLE.name, Path(sd["files"][0]).name)
    port = AgentConfig.model_fields["metrics_port"].default
    groups = load_yaml(AGENTS_EXAMPLE)
    assert isinstance(groups, list)
    assert groups
    for group in groups:
        assert set(group) <= {"targets", "labels"}
        assert group["targets"]
        for target in group["targets"]:
            assert re.fullmatch(rf"[0-9.]+:{port}", target), target
        labels = group["labels"]
        assert set(labels) == {"commune", "agent"}
        # Unquoted, 00127 would be a YAML number and lose its leading zeros.
        assert isinstance(labels["commune"], str)
        assert re.fullmatch(r"\d{5}", labels["commune"]), labels
        assert isinstance(labels["agent"], str)


def test_dashboard_metrics_and_labels_exist() -> None:
    samples = exposed(AgentMetrics(), CollectorMetrics(), AlertsMetrics(), JobsMetrics())
    problems = check_queries(samples, lambda metric: not metric.startswith("camnet_api_"))
    for source, query in variable_queries():
        for metric, label in LABEL_VALUES.findall(query):
            if metric not in samples or label not in available_labels(samples, metric):
                problems.append(f"{source}: variable query names an unknown series: {query}")
    assert not problems, "\n".join(problems)


def test_dashboard_api_metrics_and_labels_exist() -> None:
    api_metrics = pytest.importorskip("api.metrics")
    samples = exposed(api_metrics.ApiMetrics())
    problems = check_queries(samples, lambda metric: metric.startswith("camnet_api_"))
    assert not problems, "\n".join(problems)


def promtool() -> str:
    """promtool on the PATH, Debian's, or the one `make system-deps` unpacks into the venv."""
    beside = Path(sys.executable).parent / "promtool"
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else str(beside)
    )
    if not Path(found).exists():
        pytest.skip("promtool not installed: it comes with the Debian package `prometheus`")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def test_promtool_accepts_the_config() -> None:
    result = run(promtool(), "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_config_with_the_agents_example(tmp_path: Path) -> None:
    config = load_yaml(PROMETHEUS_YML)
    for job in config["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(AGENTS_EXAMPLE.parent / Path(f).name) for f in sd["files"]]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run(promtool(), "check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "does not exist" not in result.stdout, result.stdout


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    binary = promtool()

    def concrete(expr: str) -> str:
        # Grafana fills these in before the query reaches Prometheus.
        expr = re.sub(r"\$__(?:rate_interval|interval|range)\b", "5m", expr)
        return re.sub(r"\$\w+", ".*", expr)

    rules = [
        {"record": f"dashboard:query_{n}", "expr": concrete(expr)}
        for n, (_, expr, _) in enumerate(queries())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run(binary, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
