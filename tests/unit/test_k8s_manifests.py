"""Static checks of the Kubernetes manifests in deploy/k8s/base.

The base is rendered with kustomize (the service manifests hold only what is their own; the pod
template and the settings every service shares come from components/service-defaults) and the
rules the deployment relies on are asserted on what it renders: the restricted security context,
resources, native gRPC probes and grace period of every workload (a Deployment per API, a
StatefulSet with a volume per pod for each Faust worker); a default-deny NetworkPolicy plus one
allow policy per service; and a Service, ServiceAccount, ConfigMap and PodDisruptionBudget for
each service. The source manifests are checked not to repeat what the component sets, and both
overlays are built as well. kustomize is installed in .local/tools/bin by `make install`.

"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.topics import desired_topics

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
SHARED = K8S / "components" / "service-defaults"
KUSTOMIZE = ROOT / ".local" / "tools" / "bin" / "kustomize"  # installed by `make install`
OVERLAYS = ("dev", "production")
SERVICES = ("content", "share", "rewards", "analytics", "notify")
# One pod by design (its delivery loop lives in the process): a budget of maxUnavailable 1.
SINGLETONS = ("notify",)
WORKERS = ("rewards", "analytics")
GRPC_PORT = 50051
METRICS_PORT = 9100
UID = 10001
NAME_LABEL = "app.kubernetes.io/name"


# --------------------------------------------------------------------------------------------
# Loading


def load_all(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def _base_files() -> list[Path]:
    return sorted(p for p in BASE.rglob("*") if p.suffix in (".yaml", ".yml"))


def _source_documents() -> list[dict[str, Any]]:
    """The base's files as written (before kustomize applies the shared component)."""
    docs: list[dict[str, Any]] = []
    for path in _base_files():
        if path.name == "kustomization.yaml":
            continue
        for doc in load_all(path.read_text()):
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"
            doc["__file__"] = path.name
            docs.append(doc)
    return docs


def kustomize_build(path: Path) -> list[dict[str, Any]]:
    assert KUSTOMIZE.is_file(), "kustomize is missing: run `make install`"
    result = subprocess.run(
        [str(KUSTOMIZE), "build", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


def _base_documents() -> list[dict[str, Any]]:
    """The base as kustomize renders it: what the cluster gets (before an overlay's changes)."""
    docs = kustomize_build(BASE)
    for doc in docs:
        assert isinstance(doc, dict), "a rendered document is not a mapping"
        doc["__file__"] = "kustomize build deploy/k8s/base"
    return docs


DOCS = _base_documents()


def objects(kind: str) -> list[dict[str, Any]]:
    return [d for d in DOCS if d.get("kind") == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in objects(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} named {name}, found {len(found)}"
    return found[0]


def workloads() -> list[dict[str, Any]]:
    return objects("Deployment") + objects("StatefulSet")


def workload(name: str) -> dict[str, Any]:
    """The API services run as Deployments, the Faust workers (state on volumes) as StatefulSets."""
    return named("StatefulSet" if name in WORKERS else "Deployment", name)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels and matchExpressions (In / NotIn / Exists / DoesNotExist) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _pod_labels(name: str) -> dict[str, str]:
    return workload(name)["spec"]["template"]["metadata"]["labels"]


# --------------------------------------------------------------------------------------------
# The loader itself (exercised whether or not PyYAML is installed)


def test_every_base_document_is_a_named_kubernetes_object() -> None:
    assert DOCS, "no manifests found under deploy/k8s/base"
    for doc in DOCS:
        assert doc.get("apiVersion") and doc.get("kind"), doc["__file__"]
        assert doc.get("metadata", {}).get("name"), doc["__file__"]
    assert not objects("Secret"), "secrets are created in the cluster, never committed"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = load_all((BASE / "kustomization.yaml").read_text())[0]
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in _base_files() if p.name != "kustomization.yaml"}
    assert listed == on_disk
    assert "../components/service-defaults" in kustomization["components"]
    assert kustomization["namespace"] == "advocacy"
    assert named("Namespace", "advocacy")


def test_one_workload_per_service() -> None:
    assert sorted(d["metadata"]["name"] for d in workloads()) == sorted(SERVICES)
    assert sorted(d["metadata"]["name"] for d in objects("StatefulSet")) == sorted(WORKERS)


@pytest.mark.parametrize("deployment", workloads(), ids=lambda d: d["metadata"]["name"])
def test_deployment_pods_are_restricted_and_probed(deployment: dict[str, Any]) -> None:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] > 20
    assert pod["serviceAccountName"] == name
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"

    writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    containers = pod["containers"] + pod.get("initContainers", [])
    assert containers
    for container in containers:
        where = f"{name}/{container['name']}"
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True, where
        assert sc["runAsUser"] == UID, where
        assert sc["readOnlyRootFilesystem"] is True, where
        assert sc["allowPrivilegeEscalation"] is False, where
        assert "ALL" in sc["capabilities"]["drop"], where
        assert not sc["capabilities"].get("add"), where
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
        assert not sc.get("privileged"), where

        resources = container["resources"]
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[section]), f"{where}: resources.{section}"

        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert mounts.get("/tmp") in writable, f"{where}: /tmp must be a writable emptyDir"

    (app,) = pod["containers"]
    assert app["image"].partition(":")[0] == "advocacy"  # the one image; the kustomizations set the tag
    assert app["command"] == ["python", "-m", f"services.{name}"]
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    assert ports["grpc"] == GRPC_PORT
    assert ports["metrics"] == METRICS_PORT
    for probe in ("livenessProbe", "readinessProbe"):
        # gRPC probes take a port number (named ports are not allowed there).
        assert app[probe]["grpc"]["port"] == ports["grpc"], f"{name}: {probe} must be a grpc probe"


@pytest.mark.parametrize("name", SERVICES)
def test_service_configuration(name: str) -> None:
    config = named("ConfigMap", name)["data"]
    assert config["ADVOCACY_GRPC_PORT"] == str(GRPC_PORT)
    assert config["ADVOCACY_METRICS_PORT"] == str(METRICS_PORT)
    assert config["ADVOCACY_KAFKA_BOOTSTRAP"] == "advocacy-kafka-bootstrap:9092"
    assert "ADVOCACY_LOG_LEVEL" in config
    assert all(isinstance(v, str) for v in config.values()), "ConfigMap values must be strings"
    assert "ADVOCACY_MONGO_URL" not in config, "the MongoDB URL comes from the Secret"

    (app,) = workload(name)["spec"]["template"]["spec"]["containers"]
    assert {"configMapRef": {"name": name}} in app["envFrom"]
    (mongo,) = [e for e in app["env"] if e["name"] == "ADVOCACY_MONGO_URL"]
    assert mongo == {
        "name": "ADVOCACY_MONGO_URL",
        "valueFrom": {"secretKeyRef": {"name": "advocacy-mongo", "key": "url"}},
    }


def test_share_configuration() -> None:
    config = named("ConfigMap", "share")["data"]
    assert config["ADVOCACY_CONTENT_ADDR"] == f"content:{GRPC_PORT}"
    assert config["ADVOCACY_HTTP_PORT"] == "8080"
    assert config["ADVOCACY_PUBLIC_BASE_URL"]
    (app,) = named("Deployment", "share")["spec"]["template"]["spec"]["containers"]
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in app["ports"]
    service_ports = named("Service", "share")["spec"]["ports"]
    assert {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"} in service_ports


@pytest.mark.parametrize("name", WORKERS)
def test_faust_workers_keep_state_on_a_persistent_volume_per_pod(name: str) -> None:
    config = named("ConfigMap", name)["data"]
    assert config["ADVOCACY_FAUST_STORE"] == "rocksdb://"
    assert config["ADVOCACY_STATE_DIR"] == "/var/lib/advocacy"
    assert int(config["ADVOCACY_TABLE_STANDBY_REPLICAS"]) >= 0  # configurable
    stateful = named("StatefulSet", name)
    spec = stateful["spec"]
    (app,) = spec["template"]["spec"]["containers"]
    mounts = {m["mountPath"]: m["name"] for m in app["volumeMounts"]}
    # The state directory is a claim of the pod's own (not an emptyDir lost with the pod).
    (claim,) = [c for c in spec["volumeClaimTemplates"] if c["metadata"]["name"] == mounts["/var/lib/advocacy"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    assert mounts["/var/lib/advocacy"] not in {v["name"] for v in spec["template"]["spec"].get("volumes", [])}
    # The governing Service is headless and selects the set's pods.
    headless = named("Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert _selects({"matchLabels": headless["spec"]["selector"]}, spec["template"]["metadata"]["labels"])
    assert spec["podManagementPolicy"] == "Parallel"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_service_account_config_and_pdb(name: str) -> None:
    labels = _pod_labels(name)
    assert labels[NAME_LABEL] == name
    assert labels["app.kubernetes.io/part-of"] == "advocacy"
    assert _selects(workload(name)["spec"]["selector"], labels)

    account = named("ServiceAccount", name)
    assert account["automountServiceAccountToken"] is False

    named("ConfigMap", name)

    service = named("Service", name)
    assert service["spec"]["selector"] and _selects({"matchLabels": service["spec"]["selector"]}, labels)
    grpc = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
    assert grpc and grpc[0]["port"] == GRPC_PORT and grpc[0]["targetPort"] in ("grpc", GRPC_PORT)

    budgets = [p for p in objects("PodDisruptionBudget") if _selects(p["spec"]["selector"], labels)]
    assert len(budgets) == 1, f"{name}: expected one PodDisruptionBudget"
    if name in SINGLETONS:
        assert budgets[0]["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budgets[0]["spec"]
        assert workload(name)["spec"]["replicas"] == 1 and workload(name)["spec"]["strategy"]["type"] == "Recreate"
    else:
        assert budgets[0]["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("name", ["content", "share"])
def test_api_services_autoscale_on_cpu(name: str) -> None:
    hpa = named("HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    # The HPA owns the replica count; a fixed count in the Deployment would reset it on apply.
    assert "replicas" not in named("Deployment", name)["spec"]


def test_default_deny_all_network_policy() -> None:
    deny = [
        p
        for p in objects("NetworkPolicy")
        if not (p["spec"].get("podSelector") or {}).get("matchLabels")
        and not (p["spec"].get("podSelector") or {}).get("matchExpressions")
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1, "expected one NetworkPolicy denying all ingress and egress of every pod"


def _allow_policies(name: str) -> list[dict[str, Any]]:
    labels = _pod_labels(name)
    return [
        p
        for p in objects("NetworkPolicy")
        if (p["spec"].get("podSelector") or {}).get("matchLabels", {}).get(NAME_LABEL) == name
        and _selects(p["spec"]["podSelector"], labels)
    ]


def _ports(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for rule in rules for p in rule.get("ports", [])}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_an_allow_network_policy(name: str) -> None:
    policies = _allow_policies(name)
    assert len(policies) == 1, f"{name}: expected one allow NetworkPolicy selecting its pods"
    spec = policies[0]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}

    ingress = spec["ingress"]
    assert ("TCP", GRPC_PORT) in _ports(ingress)
    assert ("TCP", METRICS_PORT) in _ports(ingress)
    clients = [
        rule
        for rule in ingress
        if any(
            peer.get("podSelector", {}).get("matchLabels") == {"advocacy.dev/client": "true"}
            for peer in rule.get("from", [])
        )
    ]
    assert clients and ("TCP", GRPC_PORT) in _ports(clients)
    scrapes = [
        rule
        for rule in ingress
        if any(
            peer.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "monitoring"}
            for peer in rule.get("from", [])
        )
    ]
    assert scrapes and _ports(scrapes) == {("TCP", METRICS_PORT)}

    egress = spec["egress"]
    assert {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 27017)} <= _ports(egress)


def test_notify_configuration() -> None:
    config = named("ConfigMap", "notify")["data"]
    assert config["ADVOCACY_UNSUBSCRIBE_HTTP_PORT"] == "8080" and config["ADVOCACY_UNSUBSCRIBE_BASE_URL"]
    assert config["ADVOCACY_EMAIL_ENABLED"] == "false"  # on only where an overlay names the relay
    (app,) = named("Deployment", "notify")["spec"]["template"]["spec"]["containers"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in app["env"]}
    assert secrets["ADVOCACY_NOTIFY_UNSUBSCRIBE_SECRET"] == "advocacy-notify"
    (policy,) = _allow_policies("notify")
    assert {("TCP", 587), ("TCP", 443)} <= _ports(policy["spec"]["egress"])


def test_share_reaches_content_over_grpc() -> None:
    (content,) = _allow_policies("content")
    share_labels = _pod_labels("share")
    from_share = [
        rule
        for rule in content["spec"]["ingress"]
        if any("podSelector" in peer and _selects(peer["podSelector"], share_labels) for peer in rule["from"])
    ]
    assert from_share and ("TCP", GRPC_PORT) in _ports(from_share)

    (share,) = _allow_policies("share")
    to_content = [
        rule
        for rule in share["spec"]["egress"]
        if any(
            peer.get("podSelector", {}).get("matchLabels", {}).get(NAME_LABEL) == "content"
            for peer in rule.get("to", [])
        )
    ]
    assert to_content and _ports(to_content) == {("TCP", GRPC_PORT)}


# --------------------------------------------------------------------------------------------
# What every service shares is written once (components/service-defaults)


def env_file(name: str) -> dict[str, str]:
    """KEY=value lines of a configMapGenerator env file (comments and blank lines skipped)."""
    lines = (SHARED / name).read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert all(len(pair) == 2 for pair in pairs), f"{name}: every setting is KEY=value"
    return dict(pairs)  # type: ignore[arg-type]


def _shared_settings(name: str) -> dict[str, str]:
    return env_file("common.env") | (env_file("worker.env") if name in WORKERS else {})


@pytest.mark.parametrize("name", SERVICES)
def test_shared_settings_are_merged_into_each_configmap_not_repeated(name: str) -> None:
    shared = _shared_settings(name)
    assert {"ADVOCACY_KAFKA_BOOTSTRAP", "ADVOCACY_GRPC_PORT", "ADVOCACY_LOG_LEVEL"} <= set(shared)
    rendered = named("ConfigMap", name)["data"]
    assert {key: rendered.get(key) for key in shared} == shared
    (source,) = [d for d in _source_documents() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
    repeated = sorted(set(source.get("data") or {}) & set(shared))
    assert not repeated, f"{name}.yaml repeats settings of components/service-defaults: {repeated}"


# Set for every workload by the component's patches; a service manifest that sets one again would
# silently be overridden (JSON patch `add` replaces), so none may.
SHARED_POD_FIELDS = ("securityContext", "volumes", "automountServiceAccountToken", "terminationGracePeriodSeconds")
SHARED_CONTAINER_FIELDS = ("image", "securityContext", "resources", "startupProbe", "livenessProbe", "volumeMounts")


@pytest.mark.parametrize("name", SERVICES)
def test_service_manifests_leave_the_shared_pod_template_to_the_component(name: str) -> None:
    kind = "StatefulSet" if name in WORKERS else "Deployment"
    (source,) = [d for d in _source_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    pod = source["spec"]["template"]["spec"]
    assert not set(pod) & set(SHARED_POD_FIELDS), f"{name}.yaml sets shared pod fields"
    (app,) = pod["containers"]
    assert not set(app) & set(SHARED_CONTAINER_FIELDS), f"{name}.yaml sets shared container fields"
    # The patches put the shared Secret variables first and fill in the readiness probe's shape.
    assert isinstance(app["env"], list)
    assert set(app["readinessProbe"]) == {"grpc"} and set(app["readinessProbe"]["grpc"]) == {"service"}
    (rendered,) = workload(name)["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in rendered["env"][:2]] == ["ADVOCACY_MONGO_URL", "ADVOCACY_AUTH_HS256_KEY"]
    assert rendered["env"][2:] == app["env"]
    service = app["readinessProbe"]["grpc"]["service"]
    assert rendered["readinessProbe"]["grpc"] == {"port": GRPC_PORT, "service": service}


# --------------------------------------------------------------------------------------------
# The overlays build


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds(overlay: str) -> None:
    built = kustomize_build(K8S / "overlays" / overlay)
    kinds = [doc["kind"] for doc in built]
    assert kinds.count("Deployment") == len(SERVICES) - len(WORKERS)
    assert kinds.count("StatefulSet") == len(WORKERS) + (overlay == "dev")  # dev: the MongoDB component's
    assert "Kafka" in kinds and kinds.count("KafkaTopic") == len(desired_topics())
    namespaced = [doc for doc in built if doc["kind"] != "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in namespaced} == {"advocacy"}


def test_strimzi_topics_match_the_topic_registry() -> None:
    """deploy/ and the local provisioning declare the same topics, partitions and retention."""
    path = K8S / "components" / "kafka" / "topics.yaml"
    declared = {
        doc["metadata"]["name"]: (doc["spec"]["partitions"], {k: str(v) for k, v in doc["spec"]["config"].items()})
        for doc in load_all(path.read_text())
        if doc["kind"] == "KafkaTopic"
    }
    expected = {name: (options["num_partitions"], options["configs"]) for name, options in desired_topics().items()}
    assert declared == expected
