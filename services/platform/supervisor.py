"""Starts, watches and stops the five service processes on one machine.

Each service is a real process (`python -m services.<name>`), configured only through its
ADVOCACY_* environment, exactly as Kubernetes runs it. Ready means its gRPC health says SERVING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tenacity import Retrying

from services.common.auth import ADMIN, KEY_ENV, authorized_aio_channel, authorized_channel, dev_token, local_dev_key
from services.common.retry import retrying_sync

SERVICE_NAMES = ("content", "share", "rewards", "analytics", "notify")


def grpc_service_name(name: str) -> str:
    """The gRPC service whose health status is the service's readiness."""
    return f"advocacy.{name}.v1.{name.capitalize()}Service"


class ServiceCrashed(RuntimeError):
    """A service process exited before it was ready."""


def log_tail(path: Path, lines: int = 25, width: int = 400) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n".join("  " + line[:width] for line in text)


@dataclass(frozen=True)
class ServicePorts:
    grpc: int
    metrics: int


def default_ports(base_grpc: int = 50051, base_metrics: int = 9101) -> dict[str, ServicePorts]:
    return {name: ServicePorts(base_grpc + i, base_metrics + i) for i, name in enumerate(SERVICE_NAMES)}


@dataclass
class Platform:
    env: dict[str, str]
    log_dir: Path
    ports: dict[str, ServicePorts] = field(default_factory=default_ports)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_crashes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The services this platform runs (those it has ports for), in start order."""
        return [name for name in SERVICE_NAMES if name in self.ports]

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name].grpc}"

    @property
    def auth_key(self) -> str:
        """The HS256 key the services verify tokens with: the configured one, else this checkout's
        generated development key (never a key from the repository)."""
        return self.env.get(KEY_ENV) or os.environ.get(KEY_ENV) or local_dev_key()

    def token(self, role: str, subject: str) -> str:
        """A token this platform accepts (tests, `make run`)."""
        return dev_token(subject, role, key=self.auth_key)

    def channel(self, name: str, role: str = ADMIN, subject: str = "tests") -> grpc.Channel:
        """A channel to one service that sends a token of `role` for `subject` on every call."""
        return authorized_channel(self.address(name), self.token(role, subject))

    def aio_channel(self, name: str, role: str = ADMIN, subject: str = "tests") -> grpc.aio.Channel:
        return authorized_aio_channel(self.address(name), self.token(role, subject))

    def _service_env(self, name: str) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault(KEY_ENV, self.auth_key)
        env["ADVOCACY_GRPC_PORT"] = str(self.ports[name].grpc)
        env["ADVOCACY_METRICS_PORT"] = str(self.ports[name].metrics)
        if name == "share":
            env["ADVOCACY_CONTENT_ADDR"] = self.address("content")
        if name == "notify":
            # The unsubscribe page beside notify's gRPC port, shifted with it (tests' port offsets).
            http = str(self.ports[name].grpc + 1000)
            env.setdefault("ADVOCACY_UNSUBSCRIBE_HTTP_PORT", http)
            env.setdefault("ADVOCACY_UNSUBSCRIBE_BASE_URL", f"http://127.0.0.1:{http}")
        return env

    def start_service(self, name: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=self._service_env(name),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own process group: Ctrl-C in the terminal reaches the supervisor only, which stops
            # the services in order instead of all of them racing at once.
            start_new_session=True,
        )
        log.close()

    def start(self, timeout: float = 90.0, restarts: int = 2) -> None:
        """Starts every service and waits until each is ready. A service that dies while starting
        is started again up to `restarts` times (as Kubernetes would restart its pod); each such
        crash is kept in `startup_crashes` with its log tail, and the last one raises."""
        for name in self.names:
            self.start_service(name)
        for name in self.names:
            self._restarting(name, restarts)(self._serving, name, timeout)

    def _restarting(self, name: str, restarts: int) -> Retrying:
        def forget(_: BaseException) -> None:
            self.processes.pop(name, None)  # `_serving` starts it again after the wait

        return retrying_sync(
            retry_on=ServiceCrashed,
            event="service_restart",
            first_seconds=1.0,
            max_seconds=1.0,
            attempts=restarts + 1,
            on_retry=forget,
            log_level=None,  # reported on stderr with the log's tail (`_serving`)
        )

    def _serving(self, name: str, timeout: float) -> None:
        """Waits for `name` to serve, starting it again first when its last start crashed."""
        if name not in self.processes:
            self.start_service(name)
        try:
            self.wait_serving(name, timeout)
        except ServiceCrashed as crash:
            self.startup_crashes.append(str(crash))
            print(f"warning: {crash}", file=sys.stderr)
            raise

    def wait_serving(self, name: str, timeout: float = 90.0) -> None:
        """Waits for readiness: the service's own health status, not just a listening server."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address(name)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                proc = self.processes.get(name)
                if proc is not None and proc.poll() is not None:
                    log = self.log_dir / f"{name}.log"
                    raise ServiceCrashed(
                        f"{name} exited with {proc.returncode} while starting; see {log}; its last lines:\n"
                        + log_tail(log)
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=grpc_service_name(name)), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} not SERVING after {timeout:.0f} s; see {self.log_dir / (name + '.log')}"
                    )
                time.sleep(0.2)

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stops one service; returns its exit code (SIGKILL after `timeout`)."""
        proc = self.processes.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
        return self._reap(name, timeout)

    def stop(self, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM to every service at once (one signal each: a second one would cut a graceful
        shutdown short), then waits for each; returns the exit codes."""
        running = [n for n in SERVICE_NAMES if n in self.processes]
        for name in running:
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        return {name: self._reap(name, timeout) for name in running}

    def _reap(self, name: str, timeout: float) -> int:
        proc = self.processes.pop(name, None)
        if proc is None:
            return 0
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return proc.returncode

    def exited(self) -> dict[str, int]:
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
