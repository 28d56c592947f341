"""The container image build file, checked without building it (no container engine here).

deploy/Containerfile is parsed: its stages, every COPY source that must exist in the build
context, the stages `COPY --from` refers to, and the runtime user; and it is held against the
Kubernetes manifests: every workload's entry point (`python -m services.<name>`) is a module the
image installs, the pods' uid is the image's user, and the ports the image exposes are the ones the
manifests use. A real build (`docker build -f deploy/Containerfile .`) is left to CI with an engine.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.unit.test_k8s_manifests import GRPC_PORT, METRICS_PORT, SERVICES, UID, workload

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: comments dropped, continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in CONTAINERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "a continued line never ends"
    out = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


KNOWN = {"ARG", "FROM", "RUN", "ENV", "WORKDIR", "COPY", "USER", "EXPOSE", "LABEL", "ENTRYPOINT", "CMD"}


def test_every_instruction_is_known() -> None:
    unknown = {k for k, _ in instructions()} - KNOWN
    assert not unknown, f"unknown instructions: {unknown}"


def stages() -> list[str]:
    names = []
    for keyword, args in instructions():
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, f"FROM {args}"
            names.append(match.group(2) or "")
    return names


def test_stages_and_copy_sources() -> None:
    assert stages() == ["build", "runtime"]
    for keyword, args in instructions():
        if keyword != "COPY":
            continue
        words = shlex.split(args)
        flags = [w for w in words if w.startswith("--")]
        *sources, _destination = [w for w in words if not w.startswith("--")]
        assert sources, f"COPY {args}"
        from_stage = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
        if from_stage:
            assert from_stage[0] in stages(), f"COPY --from={from_stage[0]}: no such stage"
            continue
        for source in sources:  # relative to the build context, the repository root
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_runtime_runs_as_the_pods_non_root_user() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users and users[-1] == f"{UID}:{UID}"
    for name in SERVICES:
        security = workload(name)["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsUser"] == UID


def test_exposed_ports_are_the_manifests_ports() -> None:
    exposed = {int(p) for keyword, args in instructions() if keyword == "EXPOSE" for p in args.split()}
    assert {GRPC_PORT, METRICS_PORT, 8080} == exposed


@pytest.mark.parametrize("name", SERVICES)
def test_each_deployment_runs_a_module_the_image_installs(name: str) -> None:
    (app,) = workload(name)["spec"]["template"]["spec"]["containers"]
    command = app["command"]
    assert command[:2] == ["python", "-m"]
    module = command[2]
    path = ROOT / Path(*module.split("."))
    assert (path / "__main__.py").is_file(), f"{module} has no __main__.py"
    copied = {shlex.split(a)[0] for k, a in instructions() if k == "COPY" and "--from" not in a}
    assert f"{module.split('.')[0]}/" in copied, f"{module}: its package is not copied into the image"
