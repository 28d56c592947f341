"""Monitoring artefacts: the PrometheusRule alerts pass `promtool check rules` and their unit tests
(`promtool test rules`); the Grafana dashboard's queries are valid PromQL over metrics that exist.

promtool comes from Debian's `prometheus` package, installed by `make install`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import services.common.metrics
import services.content.metrics
import services.notify.metrics
import services.rewards.adapters.ledger
import services.rewards.metrics
import services.rewards.stream.agents
import services.share.api.servicer
import services.share.web.tracker  # noqa: F401

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "components" / "monitoring"


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run `make install` (Debian package prometheus)"
    return path


def _rules_and_tests(tmp_path: Path) -> tuple[Path, Path]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    tests = tmp_path / "alerts.test.yaml"
    shutil.copy(MONITORING / "alerts.test.yaml", tests)
    return rules, tests


def test_alert_rules_are_valid(tmp_path: Path) -> None:
    rules, _ = _rules_and_tests(tmp_path)
    result = subprocess.run([_promtool(), "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_when_they_should(tmp_path: Path) -> None:
    _, tests = _rules_and_tests(tmp_path)
    result = subprocess.run([_promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}
    tested = {
        case["alertname"]
        for test in yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert alerts == tested


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboards" / "advocacy.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses PromQL when it checks rules: wrap every panel query as a recording rule.
    queries = _dashboard_queries()
    assert len(queries) >= 10
    rules = [{"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_and_alerts_use_only_metrics_the_services_export() -> None:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    exprs = _dashboard_queries() + [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"advocacy_\w+", e)}
    # Counters are exposed with a `_total` suffix, histograms with _bucket/_count/_sum (stripped above).
    exported = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
        if family.name.startswith("advocacy_")
    }
    assert used - exported == set()
