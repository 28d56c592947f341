"""Every object the overlays build passes schema validation offline.

Built-in kinds are validated by `kubernetes-validate` against the Kubernetes OpenAPI schemas it
ships (strict: unknown fields are errors). The custom resources (Strimzi, Prometheus Operator)
have no schema package on PyPI, so they are checked structurally here: right API group/version,
required spec fields, and references that resolve (a KafkaTopic's cluster exists, a PodMonitor
selects pods of a workload).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / ".local" / "tools" / "bin" / "kustomize"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.33.0"  # the oldest minor still supported upstream; what we target
CUSTOM_GROUPS = ("kafka.strimzi.io/", "monitoring.coreos.com/")


def build(overlay: str) -> list[dict[str, Any]]:
    assert KUSTOMIZE.is_file(), "kustomize is missing: run `make install`"
    out = subprocess.run(
        [str(KUSTOMIZE), "build", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_kinds_match_the_kubernetes_schemas(overlay: str) -> None:
    checked = 0
    for doc in build(overlay):
        if doc["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 20  # the services' objects, not an empty build


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_are_well_formed(overlay: str) -> None:
    docs = build(overlay)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    clusters = {d["metadata"]["name"] for d in by_kind.get("Kafka", [])}
    for kafka in by_kind.get("Kafka", []):
        assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
        assert kafka["spec"]["kafka"]["version"].startswith("4.")
        assert kafka["spec"]["kafka"]["listeners"], "a Kafka needs listeners"
    for pool in by_kind.get("KafkaNodePool", []):
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] in clusters
        assert set(pool["spec"]["roles"]) <= {"broker", "controller"} and pool["spec"]["replicas"] >= 1
    for topic in by_kind.get("KafkaTopic", []):
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] in clusters
        assert topic["spec"]["partitions"] >= 1 and topic["spec"]["replicas"] >= 1
    deployments = by_kind["Deployment"] + by_kind["StatefulSet"]
    for monitor in by_kind.get("PodMonitor", []):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]
        selected = [d for d in deployments if _selects(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert selected, f"PodMonitor {monitor['metadata']['name']} selects no workload's pods"
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            ports = {
                p.get("name")
                for d in selected
                for c in d["spec"]["template"]["spec"]["containers"]
                for p in c.get("ports", [])
            }
            assert endpoint["port"] in ports
    for rule in by_kind.get("PrometheusRule", []):
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                assert r["expr"] and ("alert" in r or "record" in r)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "Exists" and value is None:
            return False
    return True
