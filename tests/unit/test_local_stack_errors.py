"""The local stack's scripts fail with a message the user can act on: a missing or too old tool,
a port someone else holds. Each case runs the real code against an empty tools root under
tmp_path, with PATH narrowed to what the case allows."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from infra import stack as local_stack


def _path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the named tools (linked from the real ones) and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        real = shutil.which(tool)
        assert real is not None, f"{tool} is needed to run this test"
        (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


def _fake_java(tmp_path: Path, version_line: str) -> str:
    bin_dir = tmp_path / "old-java"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return str(bin_dir)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> local_stack.StackConfig:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    # The fallback location of an official Go install would otherwise be found without PATH.
    monkeypatch.setattr(local_stack, "GO_DEFAULT_INSTALL", tmp_path / "no-go" / "go")
    return local_stack.StackConfig(root=tmp_path / "root", data_dir=tmp_path / "data")


def test_missing_java_says_which_version_to_install(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "mvn"))
    with pytest.raises(local_stack.StackError, match=r"Java 17\+ is required to run Kafka: install openjdk-17"):
        local_stack.install(cfg)


def test_too_old_java_names_the_version_found(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_java(tmp_path, 'openjdk version "11.0.22" 2024-01-16'))
    with pytest.raises(local_stack.StackError, match=r"Java 17\+ is required to run Kafka, found Java 11 at "):
        local_stack.install(cfg)


def test_missing_maven_is_named_before_anything_is_downloaded(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java"))
    with pytest.raises(local_stack.StackError, match="Maven is required to download the Kafka jars: install maven"):
        local_stack.install(cfg)
    assert not cfg.kafka_libs.exists()


def test_missing_go_is_named(cfg, tmp_path, monkeypatch):
    # Kafka counts as installed (its jar and the pom stamp), so install goes on to FerretDB.
    cfg.kafka_libs.mkdir(parents=True)
    (cfg.kafka_libs / f"kafka_2.13-{local_stack.KAFKA_VERSION}.jar").touch()
    (cfg.kafka_home / "pom.sha256").write_text(local_stack._pom_digest() + "\n")
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java", "mvn"))
    with pytest.raises(local_stack.StackError, match=r"Go 1\.24\+ is required to build FerretDB: install golang"):
        local_stack.install(cfg)
    assert not cfg.ferretdb_bin.exists()


def test_a_taken_port_is_named_with_the_setting_that_moves_it(cfg, tmp_path):
    with socket.socket() as holder:
        holder.bind((local_stack.HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        profile = local_stack.StackConfig(
            root=local_stack.REPO_ROOT, data_dir=tmp_path / "data", kafka_port=taken,
            kafka_controller_port=_free_port(), mongo_port=_free_port(),
        )  # fmt: skip
        with pytest.raises(local_stack.StackError) as error:
            local_stack.start(profile)
    assert str(error.value) == (
        f"port {taken} is already in use by another process; set ADVOCACY_KAFKA_PORT (or --kafka-port) to another port"
    )
    # Nothing was started: no server process of this profile runs, no pid file is left.
    assert {s.pid for s in local_stack.status(profile).values()} == {None}
    assert not list((tmp_path / "data").rglob("*.pid"))


def test_the_cli_prints_the_error_without_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    monkeypatch.setenv("ADVOCACY_DATA_DIR", str(tmp_path / "data"))
    assert local_stack.main(["start"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Java 17+ is required to run Kafka")
    assert "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((local_stack.HOST, 0))
        return int(sock.getsockname()[1])
