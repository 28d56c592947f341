#!/usr/bin/env python3
"""Local infrastructure for Advocacy: a single-node Kafka broker and FerretDB, as plain processes.

Kafka 4.1 runs in KRaft combined mode (broker + controller in one JVM); FerretDB speaks the
MongoDB wire protocol on top of SQLite files. Both are installed under ``<root>/.local/tools``
(shared by every profile) and keep their data, logs and pid files in a per-profile data dir.

Standard library only, because it runs before any virtualenv exists.

CLI::

    python3 infra/stack.py install|start|stop|status [--data-dir D] [--kafka-port N]
                           [--kafka-controller-port N] [--mongo-port N]

Environment overrides (flags win): ADVOCACY_DATA_DIR, ADVOCACY_KAFKA_PORT,
ADVOCACY_KAFKA_CONTROLLER_PORT, ADVOCACY_MONGO_PORT.

As a module (tests run their own profile on their own ports)::

    cfg = StackConfig(data_dir=tmp_path, kafka_port=19092, kafka_controller_port=19093, mongo_port=37017)
    start(cfg)
    ...
    stop(cfg)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent

KAFKA_VERSION = "4.1.1"
KAFKA_POM = HERE / "kafka" / "pom.xml"
KAFKA_LOG4J = HERE / "kafka" / "log4j2.properties"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# FerretDB 1.24's SQLite backend looks `_id` up with `_ferretdb_sjson->'$._id' = ?` while the unique
# `_id` index it creates is on `_ferretdb_sjson->"_id"`: SQLite only uses an expression index for
# the identical expression, so every "pushed-down" `_id` find, update and delete scans the whole
# table (EXPLAIN QUERY PLAN: `SCAN` vs `SEARCH ... USING INDEX ..__id_`; 5,000 documents: 53 ms per
# lookup instead of < 1 ms). The build rewrites the lookup to the index's expression; existing
# databases keep working (their indexes already have that form). Bump the tag when the patch changes.
FERRETDB_PATCH = "id-lookup-uses-id-index-1"
FERRETDB_PATCHES = {
    "internal/backends/sqlite/metadata/metadata.go": (
        """IDColumn = DefaultColumn + "->'$._id'\"""",
        """IDColumn = DefaultColumn + `->"_id"`""",
    ),
}
MIN_JAVA = 17
MIN_GO = "1.24"  # FerretDB v1.24.2's go.mod
# Where the official Go tarball installs; often not on PATH in non-login shells.
GO_DEFAULT_INSTALL = Path("/usr/local/go/bin/go")

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 30.0
KAFKA_READY_TIMEOUT_S = 90.0
MONGO_READY_TIMEOUT_S = 30.0

ENV_DATA_DIR = "ADVOCACY_DATA_DIR"
ENV_PORTS = {
    "kafka_port": "ADVOCACY_KAFKA_PORT",
    "kafka_controller_port": "ADVOCACY_KAFKA_CONTROLLER_PORT",
    "mongo_port": "ADVOCACY_MONGO_PORT",
}
CLI_PORT_FLAGS = {
    "kafka_port": "--kafka-port",
    "kafka_controller_port": "--kafka-controller-port",
    "mongo_port": "--mongo-port",
}


class StackError(RuntimeError):
    """A problem the user can act on; the CLI prints it without a traceback."""


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """One profile: where its data lives and which ports it uses. Tools are shared via root."""

    root: Path = REPO_ROOT
    # None means <root>/.local/dev; always an absolute Path after construction.
    data_dir: Path | None = None
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mongo_port: int = 27017
    kafka_heap: str = "512m"
    # FerretDB's debug listener (metrics, pprof) on this port; None: off (benchmarks turn it on).
    ferretdb_debug_port: int | None = None

    def __post_init__(self) -> None:
        root = Path(self.root).expanduser().resolve()
        data_dir = Path(self.data_dir) if self.data_dir is not None else root / ".local" / "dev"
        # Absolute, because FerretDB's SQLite URL and Kafka's log.dirs must not depend on the cwd.
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "data_dir", data_dir.expanduser().resolve())
        ports = [self.kafka_port, self.kafka_controller_port, self.mongo_port]
        for port in ports:
            if not 0 < port < 65536:
                raise StackError(f"invalid port {port}")
        if len(set(ports)) != len(ports):
            raise StackError(f"kafka, kafka controller and mongo ports must differ, got {ports}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> StackConfig:
        """Defaults < ADVOCACY_* environment < explicit overrides (None overrides are ignored)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get(ENV_DATA_DIR):
            values["data_dir"] = Path(env[ENV_DATA_DIR])
        for field, var in ENV_PORTS.items():
            if env.get(var):
                try:
                    values[field] = int(env[var])
                except ValueError:
                    raise StackError(f"{var}={env[var]!r} is not a port number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    # --- derived paths -------------------------------------------------------------------------

    @property
    def data(self) -> Path:
        return cast(Path, self.data_dir)

    @property
    def tools_dir(self) -> Path:
        return self.root / ".local" / "tools"

    @property
    def kafka_home(self) -> Path:
        return self.tools_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka_home / "libs"

    @property
    def ferretdb_bin(self) -> Path:
        return self.tools_dir / "bin" / "ferretdb"

    @property
    def logs_dir(self) -> Path:
        return self.data / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.data / "kafka"

    @property
    def kafka_log_dirs(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def ferretdb_sqlite_dir(self) -> Path:
        return self.data / "ferretdb"

    @property
    def ferretdb_state_dir(self) -> Path:
        return self.data / "ferretdb-state"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://{HOST}:{self.mongo_port}/"


@dataclasses.dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    ready: bool
    endpoint: str

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclasses.dataclass(frozen=True)
class _Service:
    """What stack.py needs to know to find, check and stop one of its processes."""

    name: str
    pid_file: Path
    log_file: Path
    # A string unique to this profile that must appear in the process's command line, so a
    # recycled pid (or the same service of another profile) is never mistaken for ours.
    marker: str
    port: int


def _kafka(cfg: StackConfig) -> _Service:
    return _Service(
        "kafka", cfg.data / "kafka.pid", cfg.logs_dir / "kafka.log", str(cfg.kafka_properties), cfg.kafka_port
    )


def _mongo(cfg: StackConfig) -> _Service:
    return _Service(
        "ferretdb",
        cfg.data / "ferretdb.pid",
        cfg.logs_dir / "ferretdb.log",
        f"--state-dir={cfg.ferretdb_state_dir}",
        cfg.mongo_port,
    )


# --- output ----------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def _step(label: str) -> Iterator[None]:
    started = time.monotonic()
    _say(f"{label} ...")
    yield
    _say(f"{label}: done in {time.monotonic() - started:.1f}s")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --- install ---------------------------------------------------------------------------------


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise StackError(f"Java {MIN_JAVA}+ is required to run Kafka: install openjdk-{MIN_JAVA}-jre-headless")
    return java


def _check_java() -> str:
    java = _java()
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise StackError(f"cannot tell the Java version from `{java} -version`:\n{out}")
    major = int(match[1])
    if major == 1:  # pre-9 scheme: "1.8.0_402"
        major = int(match[2] or 0)
    if major < MIN_JAVA:
        raise StackError(
            f"Java {MIN_JAVA}+ is required to run Kafka, found Java {major} at {java}: "
            f"install openjdk-{MIN_JAVA}-jre-headless (or point JAVA_HOME at a newer JDK)"
        )
    return java


def _pom_digest() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def _kafka_installed(cfg: StackConfig) -> bool:
    # The stamp ties the jar dir to the pom it came from, so editing the pom triggers a re-resolve.
    stamp = cfg.kafka_home / "pom.sha256"
    return (
        (cfg.kafka_libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()
        and stamp.is_file()
        and stamp.read_text().strip() == _pom_digest()
    )


def _install_kafka(cfg: StackConfig) -> None:
    _check_java()
    if _kafka_installed(cfg):
        _say(f"kafka {KAFKA_VERSION}: already installed in {cfg.kafka_libs}")
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven is required to download the Kafka jars: install maven")
    with _step(f"kafka {KAFKA_VERSION}: resolving jars with Maven into {cfg.kafka_libs}"):
        cfg.kafka_home.mkdir(parents=True, exist_ok=True)
        # Resolve into a side dir and rename at the end, so an interrupted run never looks installed.
        partial = cfg.kafka_home / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"Maven failed ({' '.join(cmd)}):\n{result.stdout}{result.stderr}")
        shutil.rmtree(cfg.kafka_libs, ignore_errors=True)
        os.replace(partial, cfg.kafka_libs)
        (cfg.kafka_home / "pom.sha256").write_text(_pom_digest() + "\n")


def _go() -> str:
    go = shutil.which("go") or (str(GO_DEFAULT_INSTALL) if os.access(GO_DEFAULT_INSTALL, os.X_OK) else None)
    if go is None:
        raise StackError(f"Go {MIN_GO}+ is required to build FerretDB: install golang (https://go.dev/dl/)")
    return go


def _ferretdb_installed(cfg: StackConfig) -> bool:
    if not os.access(cfg.ferretdb_bin, os.X_OK):
        return False
    marker = cfg.ferretdb_bin.with_name("ferretdb.patch")
    if not marker.exists() or marker.read_text().strip() != FERRETDB_PATCH:
        return False  # an unpatched (older) build: rebuild it
    result = subprocess.run([str(cfg.ferretdb_bin), "--version"], capture_output=True, text=True, check=False)
    return result.returncode == 0 and f"version: {FERRETDB_VERSION}" in result.stdout


def _install_ferretdb(cfg: StackConfig) -> None:
    if _ferretdb_installed(cfg):
        _say(f"ferretdb {FERRETDB_VERSION}: already installed at {cfg.ferretdb_bin}")
        return
    go = _go()
    with _step(f"ferretdb {FERRETDB_VERSION}: building {cfg.ferretdb_bin} with Go"):
        # Not `go install ...@v1.24.2`: the module zip lacks the generated build/version/version.txt,
        # and a binary built that way panics at startup ("Invalid build/version/version.txt file
        # content"). So build from a copy of the module source with that file written in.
        env = {**os.environ, "GOWORK": "off", "CGO_ENABLED": "0", "GOFLAGS": ""}
        download = subprocess.run(
            [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
            capture_output=True, text=True, check=False, env=env,
        )  # fmt: skip
        if download.returncode != 0:
            raise StackError(f"go mod download failed:\n{download.stdout}{download.stderr}")
        module_dir = Path(json.loads(download.stdout)["Dir"])
        cfg.ferretdb_bin.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ferretdb-src-") as tmp:
            src = Path(tmp) / "src"
            shutil.copytree(module_dir, src)
            version_dir = src / "build" / "version"
            version_dir.chmod(0o755)  # the module cache (and so the copy) is read-only
            (version_dir / "version.txt").write_text(FERRETDB_VERSION + "\n")
            for rel, (old, new) in FERRETDB_PATCHES.items():
                path = src / rel
                text = path.read_text()
                if old not in text:
                    raise StackError(f"FerretDB patch {FERRETDB_PATCH}: {rel} no longer contains {old!r}")
                path.chmod(0o644)
                path.write_text(text.replace(old, new))
            out = cfg.ferretdb_bin.with_name("ferretdb.partial")
            build = subprocess.run(
                [go, "build", "-trimpath", "-buildvcs=false", "-o", str(out), "./cmd/ferretdb"],
                cwd=src, capture_output=True, text=True, check=False, env=env,
            )  # fmt: skip
            if build.returncode != 0:
                raise StackError(f"go build of FerretDB failed:\n{build.stdout}{build.stderr}")
            os.replace(out, cfg.ferretdb_bin)
            cfg.ferretdb_bin.with_name("ferretdb.patch").write_text(FERRETDB_PATCH + "\n")


def install(cfg: StackConfig) -> None:
    """Install Kafka jars and the FerretDB binary under <root>/.local/tools; skips what exists."""
    started = time.monotonic()
    _install_kafka(cfg)
    _install_ferretdb(cfg)
    _say(f"install: done in {time.monotonic() - started:.1f}s")


# --- processes -------------------------------------------------------------------------------

# Popen objects of processes started by this interpreter: kept so they are not garbage-collected
# (ResourceWarning) and so an exited child is reaped instead of lingering as a "live" zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int, marker: str) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        # Our own child: poll() is the truth. Its /proc cmdline can still be empty for a moment
        # right after spawning (before exec has replaced the forked Python), which the marker
        # check below would misread as "exited".
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    if not Path("/proc").is_dir():  # not Linux: cannot check the command line, trust the pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Zombies have an empty command line, which also fails this check.
    return marker.encode() in cmdline


def _read_pid_file(service: _Service) -> tuple[int, int | None] | None:
    """(pid, port it was started with) from the pid file, or None if absent or unreadable."""
    try:
        lines = service.pid_file.read_text().split()
        return int(lines[0]), int(lines[1]) if len(lines) > 1 else None
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _running_pid(service: _Service, check_port: bool = True) -> int | None:
    """Pid of this profile's running process, removing a stale pid file on the way.

    With check_port, a process of this data dir serving another port than configured is an error
    (starting would otherwise wait for a port nobody is going to open).
    """
    entry = _read_pid_file(service)
    if entry is None:
        service.pid_file.unlink(missing_ok=True)
        return None
    pid, port = entry
    if not _alive(pid, service.marker):
        service.pid_file.unlink(missing_ok=True)
        return None
    if check_port and port is not None and port != service.port:
        raise StackError(
            f"{service.name} (pid {pid}) is already running from this data dir on port {port}, "
            f"not {service.port}: stop it first"
        )
    return pid


def _ensure_ports_free(cfg: StackConfig, *fields: str) -> None:
    """Fail with a helpful message if a port (named by its StackConfig field) is taken."""
    for field in fields:
        port = getattr(cfg, field)
        # Binding (with SO_REUSEADDR, as the servers do) fails only if someone is actually listening;
        # unlike a connect probe it also catches listeners on 0.0.0.0, and TIME_WAIT leftovers pass.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                raise StackError(
                    f"port {port} is already in use by another process; "
                    f"set {ENV_PORTS[field]} (or {CLI_PORT_FLAGS[field]}) to another port"
                ) from None


def _spawn(service: _Service, cmd: list[str], cwd: Path) -> int:
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    if service.log_file.exists():  # keep the previous run's log for post-mortems, one generation
        os.replace(service.log_file, service.log_file.with_name(service.log_file.name + ".1"))
    with open(service.log_file, "ab") as log:
        # New session: the server must survive this script (and its terminal's Ctrl-C).
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    service.pid_file.write_text(f"{proc.pid}\n{service.port}\n")
    _say(f"{service.name}: started pid {proc.pid}, log {service.log_file}")
    return proc.pid


def _stop(service: _Service) -> None:
    pid = _running_pid(service, check_port=False)  # stop whatever runs from this data dir
    if pid is None:
        _say(f"{service.name}: not running")
        return
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = started + STOP_TIMEOUT_S
    while _alive(pid, service.marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid, service.marker):
        _say(f"{service.name}: still running after {STOP_TIMEOUT_S:.0f}s, sending SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # its own session/group, see _spawn
        while _alive(pid, service.marker):
            time.sleep(0.05)
    service.pid_file.unlink(missing_ok=True)
    _say(f"{service.name}: stopped pid {pid} in {time.monotonic() - started:.1f}s")


def _wait_ready(service: _Service, probe: Callable[[], bool], timeout: float) -> None:
    started = time.monotonic()
    while True:
        if probe():
            _say(f"{service.name}: ready in {time.monotonic() - started:.1f}s")
            return
        entry = _read_pid_file(service)
        if entry is None or not _alive(entry[0], service.marker):
            service.pid_file.unlink(missing_ok=True)
            raise StackError(f"{service.name} exited during startup; last log lines:\n{_tail(service.log_file)}")
        if time.monotonic() - started > timeout:
            raise StackError(
                f"{service.name} not ready on {HOST}:{service.port} after {timeout:.0f}s; "
                f"see {service.log_file}:\n{_tail(service.log_file)}"
            )
        time.sleep(0.2)


def _exchange(port: int, request: bytes, header_size: int, length_of: Callable[[bytes], int]) -> bytes:
    """Send one request, read one length-prefixed reply (header included in the returned bytes)."""
    with socket.create_connection((HOST, port), timeout=2.0) as sock:
        sock.sendall(request)
        with sock.makefile("rb") as reader:
            header = reader.read(header_size)
            if len(header) < header_size:
                raise ConnectionError("short reply")
            return header + reader.read(length_of(header))


# --- Kafka -----------------------------------------------------------------------------------


def _kafka_broker_count(port: int) -> int:
    """Brokers listed by a Metadata v4 request; 0 until the broker is registered and unfenced.

    A TCP connect is not enough: the broker binds its port before it serves requests, and it is
    only usable (topic creation, produce) once the controller has registered and unfenced it, which
    is exactly when it lists itself in Metadata. Metadata v4 (plain, non-flexible encoding) is
    supported by Kafka 4.1.
    """
    correlation_id = 0x0ADC
    client_id = b"advocacy-stack"
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id  # api 3 = Metadata
    body = struct.pack(">ib", 0, 0)  # topics: empty array (none), allow_auto_topic_creation: false
    message = header + body
    reply = _exchange(port, struct.pack(">i", len(message)) + message, 4, lambda h: struct.unpack(">i", h)[0])
    # size, correlation id, throttle_time_ms, brokers array length
    _, got_id, _, brokers = struct.unpack(">iiii", reply[:16])
    if got_id != correlation_id:
        raise ConnectionError("unexpected Kafka reply")
    return int(brokers)


def kafka_ready(cfg: StackConfig) -> bool:
    try:
        return _kafka_broker_count(cfg.kafka_port) > 0
    except (OSError, struct.error):
        return False


def wait_kafka_ready(cfg: StackConfig, timeout: float = KAFKA_READY_TIMEOUT_S) -> None:
    _wait_ready(_kafka(cfg), lambda: kafka_ready(cfg), timeout)


def _kafka_server_properties(cfg: StackConfig) -> str:
    settings = {
        # KRaft combined mode: one JVM is both the broker and the (only) controller.
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static voter list rather than controller.quorum.bootstrap.servers + `format --standalone`:
        # the standalone format writes the controller endpoint into the metadata log, which would
        # pin the controller port of a profile forever; a static list is read from this file.
        "controller.quorum.voters": f"1@{HOST}:{cfg.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{cfg.kafka_port},CONTROLLER://{HOST}:{cfg.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{cfg.kafka_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(cfg.kafka_log_dirs),
        # A single broker cannot satisfy the production defaults (3 replicas) for internal topics.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Consumers in tests join one at a time; waiting 3s for more members only slows them down.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are provisioned declaratively; a typo must fail instead of creating a topic.
        "auto.create.topics.enable": "false",
        "num.partitions": "4",
    }
    lines = ["# Generated by infra/stack.py on every start; edit the script, not this file."]
    return "\n".join(lines + [f"{key}={value}" for key, value in settings.items()]) + "\n"


def _new_cluster_id() -> str:
    # Same format as `kafka-storage random-uuid`: URL-safe base64 of a random UUID, no padding.
    # Kafka avoids ids starting with "-" (they look like CLI flags), so do the same.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _java_cmd(cfg: StackConfig, java: str, *args: str, heap: str | None = None) -> list[str]:
    memory = [f"-Xmx{heap}", f"-Xms{heap}"] if heap else []
    return [
        java, *memory, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}", "-cp", f"{cfg.kafka_libs}/*", *args,
    ]  # fmt: skip


def _format_kafka_storage(cfg: StackConfig, java: str) -> None:
    if (cfg.kafka_log_dirs / "meta.properties").is_file():
        return  # formatted on an earlier start; formatting again would wipe the cluster identity
    cluster_id_file = cfg.kafka_dir / "cluster.id"
    if not cluster_id_file.is_file():
        cluster_id_file.write_text(_new_cluster_id() + "\n")
    cluster_id = cluster_id_file.read_text().strip()
    with _step(f"kafka: formatting storage in {cfg.kafka_log_dirs} (cluster id {cluster_id})"):
        cmd = _java_cmd(
            cfg, java, "kafka.tools.StorageTool", "format",
            "--cluster-id", cluster_id, "--config", str(cfg.kafka_properties), "--ignore-formatted",
        )  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def start_kafka(cfg: StackConfig, wait: bool = True) -> bool:
    """Start the broker unless this profile's broker already runs; True if a process was started."""
    service = _kafka(cfg)
    if _running_pid(service) is not None:
        if kafka_ready(cfg):
            _say(f"kafka: already running on {cfg.kafka_bootstrap}")
        elif wait:  # started a moment ago (e.g. by a concurrent `start`): just wait for it
            wait_kafka_ready(cfg)
        return False
    if not _kafka_installed(cfg):
        raise StackError(f"Kafka is not installed in {cfg.kafka_libs}: run `python3 infra/stack.py install`")
    java = _check_java()
    _ensure_ports_free(cfg, "kafka_port", "kafka_controller_port")
    cfg.kafka_log_dirs.mkdir(parents=True, exist_ok=True)
    cfg.kafka_properties.write_text(_kafka_server_properties(cfg))
    _format_kafka_storage(cfg, java)
    _spawn(service, _java_cmd(cfg, java, "kafka.Kafka", str(cfg.kafka_properties), heap=cfg.kafka_heap), cfg.data)
    if wait:
        wait_kafka_ready(cfg)
    return True


def stop_kafka(cfg: StackConfig) -> None:
    _stop(_kafka(cfg))


# --- FerretDB --------------------------------------------------------------------------------


def _mongo_ping(port: int) -> bool:
    """Send OP_MSG {ping: 1, $db: "admin"} and check for {ok: 1.0} in the reply."""

    def cstring(text: str) -> bytes:
        return text.encode() + b"\x00"

    elements = (
        b"\x10" + cstring("ping") + struct.pack("<i", 1)  # int32
        + b"\x02" + cstring("$db") + struct.pack("<i", len("admin") + 1) + cstring("admin")  # string
    )  # fmt: skip
    document = struct.pack("<i", 4 + len(elements) + 1) + elements + b"\x00"
    body = struct.pack("<I", 0) + b"\x00" + document  # flagBits, section kind 0 (body)
    request_id = 0x0ADC
    op_msg = 2013
    message = struct.pack("<iiii", 16 + len(body), request_id, 0, op_msg) + body
    reply = _exchange(port, message, 16, lambda h: struct.unpack("<i", h[:4])[0] - 16)
    _, _, response_to, opcode = struct.unpack("<iiii", reply[:16])
    ok_true = b"\x01" + cstring("ok") + struct.pack("<d", 1.0)  # double field "ok" == 1.0
    return response_to == request_id and opcode == op_msg and ok_true in reply[16:]


def mongo_ready(cfg: StackConfig) -> bool:
    try:
        return _mongo_ping(cfg.mongo_port)
    except (OSError, struct.error):
        return False


def wait_mongo_ready(cfg: StackConfig, timeout: float = MONGO_READY_TIMEOUT_S) -> None:
    _wait_ready(_mongo(cfg), lambda: mongo_ready(cfg), timeout)


def start_mongo(cfg: StackConfig, wait: bool = True) -> bool:
    """Start FerretDB unless this profile's instance already runs; True if a process was started."""
    service = _mongo(cfg)
    if _running_pid(service) is not None:
        if mongo_ready(cfg):
            _say(f"ferretdb: already running on {cfg.mongo_url}")
        elif wait:
            wait_mongo_ready(cfg)
        return False
    if not _ferretdb_installed(cfg):
        raise StackError(f"FerretDB is not installed at {cfg.ferretdb_bin}: run `python3 infra/stack.py install`")
    _ensure_ports_free(cfg, "mongo_port")
    cfg.ferretdb_sqlite_dir.mkdir(parents=True, exist_ok=True)
    cfg.ferretdb_state_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(cfg.ferretdb_bin),
        "--handler=sqlite",
        # Trailing slash: FerretDB wants a directory URI (one SQLite file per database).
        # synchronous=NORMAL (SQLite's recommendation with WAL, FerretDB's default journal): no
        # fsync per commit, still never corrupt; an OS crash or power loss may lose the last
        # commits of this local database. Worth +30-50 % writes/s (insert + update pairs).
        f"--sqlite-url=file:{cfg.ferretdb_sqlite_dir}/?_pragma=synchronous(normal)",
        f"--listen-addr={HOST}:{cfg.mongo_port}",
        "--telemetry=disable",
        f"--state-dir={cfg.ferretdb_state_dir}",
        # "-" disables the debug/metrics HTTP listener; its fixed default (127.0.0.1:8088) would
        # make a second profile fail to start.
        f"--debug-addr={HOST}:{cfg.ferretdb_debug_port}" if cfg.ferretdb_debug_port else "--debug-addr=-",
    ]
    _spawn(service, cmd, cfg.data)
    if wait:
        wait_mongo_ready(cfg)
    return True


def stop_mongo(cfg: StackConfig) -> None:
    _stop(_mongo(cfg))


# --- whole stack -----------------------------------------------------------------------------


def start(cfg: StackConfig) -> None:
    """Start Kafka and FerretDB (in parallel) and wait until both answer."""
    started = time.monotonic()
    cfg.data.mkdir(parents=True, exist_ok=True)
    # Check all ports up front, so a clash on FerretDB's port does not leave a new Kafka behind.
    if _running_pid(_kafka(cfg)) is None:
        _ensure_ports_free(cfg, "kafka_port", "kafka_controller_port")
    if _running_pid(_mongo(cfg)) is None:
        _ensure_ports_free(cfg, "mongo_port")
    kafka_started = start_kafka(cfg, wait=False)
    try:
        mongo_started = start_mongo(cfg, wait=False)
        # Wait for whatever is not answering yet (just started, or still starting from another call).
        if kafka_started or not kafka_ready(cfg):
            wait_kafka_ready(cfg)
        if mongo_started or not mongo_ready(cfg):
            wait_mongo_ready(cfg)
    except BaseException:
        # All or nothing: do not leave a half-started stack behind (the port may have been
        # grabbed after the check above, or the other server failed to come up).
        if kafka_started:
            stop_kafka(cfg)
        raise
    _say(f"kafka: {cfg.kafka_bootstrap}")
    _say(f"mongodb: {cfg.mongo_url}")
    _say(f"data: {cfg.data}")
    _say(f"start: done in {time.monotonic() - started:.1f}s")


def stop(cfg: StackConfig) -> None:
    started = time.monotonic()
    stop_mongo(cfg)
    stop_kafka(cfg)
    _say(f"stop: done in {time.monotonic() - started:.1f}s")


def reset(cfg: StackConfig) -> None:
    """Stops both servers and deletes their data (topics, databases); the next start is a first start."""
    stop(cfg)
    for path in (cfg.kafka_dir, cfg.ferretdb_sqlite_dir, cfg.ferretdb_state_dir):
        shutil.rmtree(path, ignore_errors=True)
    _say(f"reset: data of {cfg.data} deleted")


def status(cfg: StackConfig) -> dict[str, ServiceStatus]:
    """Current state of both services (pid None means not running)."""
    return {
        "kafka": ServiceStatus(
            "kafka", _running_pid(_kafka(cfg), check_port=False), kafka_ready(cfg), cfg.kafka_bootstrap
        ),
        "mongodb": ServiceStatus(
            "mongodb", _running_pid(_mongo(cfg), check_port=False), mongo_ready(cfg), cfg.mongo_url
        ),
    }


# --- CLI -------------------------------------------------------------------------------------


def _print_status(cfg: StackConfig) -> bool:
    all_ready = True
    for s in status(cfg).values():
        if s.running:
            state = f"running (pid {s.pid}), {'ready' if s.ready else 'NOT answering'}"
        elif s.ready:
            state = "stopped, but something else answers on this port"
        else:
            state = "stopped"
        all_ready &= s.running and s.ready
        _say(f"{s.name:<8} {s.endpoint:<28} {state}")
    _say(f"data: {cfg.data}")
    return all_ready


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infra/stack.py",
        description="Install, start and stop the local Kafka broker and FerretDB (MongoDB protocol).",
    )
    parser.add_argument("command", choices=["install", "start", "stop", "status", "reset"])
    parser.add_argument("--data-dir", type=Path, help=f"profile data dir (env {ENV_DATA_DIR}; default .local/dev)")
    for field, flag in CLI_PORT_FLAGS.items():
        parser.add_argument(flag, type=int, dest=field, help=f"env {ENV_PORTS[field]}")
    args = parser.parse_args(argv)
    try:
        cfg = StackConfig.from_env(
            data_dir=args.data_dir,
            kafka_port=args.kafka_port,
            kafka_controller_port=args.kafka_controller_port,
            mongo_port=args.mongo_port,
        )
        if args.command == "install":
            install(cfg)
        elif args.command == "start":
            install(cfg)  # no-op when installed; makes `start` alone work on a fresh checkout
            start(cfg)
        elif args.command == "stop":
            stop(cfg)
        elif args.command == "reset":
            reset(cfg)
        else:
            return 0 if _print_status(cfg) else 1
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
