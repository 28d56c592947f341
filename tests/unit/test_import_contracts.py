"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they bite.

`make lint` runs lint-imports; these tests run the same contracts from `make test` as well, then
add one forbidden import at a time to the real import graph and expect the matching contract to
break, so a contract that matches nothing (a renamed package, a typo) cannot pass silently.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import api
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract
from importlinter.domain.contract import Contract, ContractCheck

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_TYPES: dict[str, type[Contract]] = {
    "acyclic_siblings": AcyclicSiblingsContract,
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "layers": LayersContract,
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return api.read_configuration(str(ROOT / "pyproject.toml"))


@pytest.fixture(scope="module")
def graph(config: dict[str, Any]) -> grimp.ImportGraph:
    session = config["session_options"]
    for package in session["root_packages"]:
        # The shared .venv's editable install points at another checkout: check this one.
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).is_relative_to(ROOT), f"{package} resolves to {spec.origin}"
    return grimp.build_graph(
        *session["root_packages"],
        include_external_packages=flag(session, "include_external_packages"),
        exclude_type_checking_imports=flag(session, "exclude_type_checking_imports"),
        cache_dir=None,
    )


def flag(session: dict[str, Any], name: str) -> bool:
    # read_configuration hands TOML booleans back as strings.
    return str(session.get(name, False)).lower() == "true"


def contract_ids(config: dict[str, Any]) -> list[str]:
    return [options["id"] for options in config["contracts_options"]]


def check(config: dict[str, Any], graph: grimp.ImportGraph, contract_id: str) -> ContractCheck:
    options = next(o for o in config["contracts_options"] if o["id"] == contract_id)
    contract = CONTRACT_TYPES[options["type"]](
        name=options["name"], session_options=config["session_options"], contract_options=options
    )
    # Contracts remove their ignored imports from the graph they are given.
    return contract.check(copy.deepcopy(graph), verbose=False)


CONTRACTS = [
    "roots",
    "acyclic",
    "services-independent",
    "service-layers",
    "domain-pure",
    "common-below-services",
    "cli-on-top",
]


def test_every_contract_is_exercised_here(config: dict[str, Any]) -> None:
    assert sorted(contract_ids(config)) == sorted(CONTRACTS)


@pytest.mark.parametrize("contract_id", CONTRACTS)
def test_the_tree_keeps_the_contract(config: dict[str, Any], graph: grimp.ImportGraph, contract_id: str) -> None:
    result = check(config, graph, contract_id)
    assert result.kept, result.metadata
    assert not result.warnings


# One import each contract forbids, between modules that exist today.
VIOLATIONS = [
    ("roots", "infra.stack", "bench.costs"),
    ("roots", "infra.stack", "services.common.config"),
    # services.common.outbox imports services.common.events: the reverse closes a cycle.
    ("acyclic", "services.common.events", "services.common.outbox"),
    ("acyclic", "bench.api", "bench.__main__"),
    ("services-independent", "services.share.app.shares", "services.rewards.domain.rules"),
    ("service-layers", "services.rewards.domain.rules", "services.rewards.app.processor"),
    ("service-layers", "services.notify.app.planner", "services.notify.adapters.store"),
    ("service-layers", "services.share.adapters.repository", "services.share.api"),
    ("service-layers", "services.notify.web", "services.notify.stream"),
    ("domain-pure", "services.analytics.domain.metrics", "pymongo"),
    ("domain-pure", "services.content.domain.lifecycle", "faust"),
    # Indirectly: services.common.mongo imports pymongo.
    ("domain-pure", "services.notify.domain.planning", "services.common.mongo"),
    ("common-below-services", "services.common.logging", "services.notify.app.planner"),
    ("cli-on-top", "services.demo.company", "services.cli.replay"),
    ("cli-on-top", "bench.load", "services.cli.context"),
    ("cli-on-top", "services.rewards.stream", "services.cli"),
]


@pytest.mark.parametrize(("contract_id", "importer", "imported"), VIOLATIONS)
def test_a_forbidden_import_breaks_the_contract(
    config: dict[str, Any], graph: grimp.ImportGraph, contract_id: str, importer: str, imported: str
) -> None:
    assert importer in graph.modules and imported in graph.modules
    broken = copy.deepcopy(graph)
    broken.add_import(importer=importer, imported=imported)
    assert not check(config, broken, contract_id).kept


def module_cycles(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Every direct import between our modules whose imported module leads back to its importer."""
    internal = {m for m in graph.modules if not graph.is_module_squashed(m)}
    return sorted(
        (importer, imported)
        for importer in internal
        for imported in graph.find_modules_directly_imported_by(importer) & internal
        if graph.chain_exists(importer=imported, imported=importer)
    )


def without_acyclic_ignores(config: dict[str, Any], graph: grimp.ImportGraph) -> grimp.ImportGraph:
    acyclic = next(o for o in config["contracts_options"] if o["id"] == "acyclic")
    graph = copy.deepcopy(graph)
    for expression in acyclic.get("ignore_imports", []):
        for ignored in graph.find_matching_direct_imports(expression):
            graph.remove_import(importer=ignored["importer"], imported=ignored["imported"])
    return graph


def test_no_module_is_reachable_from_a_module_it_imports(config: dict[str, Any], graph: grimp.ImportGraph) -> None:
    """Module-level acyclicity, including a package's __init__ and its own submodules.

    acyclic_siblings compares the children of a package, so a package __init__ importing a
    submodule that imports the package back is outside its view; this sees every module.
    """
    assert module_cycles(without_acyclic_ignores(config, graph)) == []


def test_a_cycle_through_a_package_init_is_found(config: dict[str, Any], graph: grimp.ImportGraph) -> None:
    broken = without_acyclic_ignores(config, graph)
    broken.add_import(importer="services.common", imported="services.common.logging")
    broken.add_import(importer="services.common.logging", imported="services.common")
    assert module_cycles(broken) == [
        ("services.common", "services.common.logging"),
        ("services.common.logging", "services.common"),
    ]


def test_lint_imports_fails_on_a_broken_tree(tmp_path: Path) -> None:
    """End to end, as `make lint` runs it: a real import breaks the run, a type-only one does not."""
    package = tmp_path / "toyadvocacy"
    (package / "domain").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "adapters.py").write_text("import pymongo\n")
    (package / "domain" / "__init__.py").write_text("")
    (package / "domain" / "typed.py").write_text(
        textwrap.dedent(
            """\
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from toyadvocacy import adapters
            """
        )
    )
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.importlinter]
            root_packages = ["toyadvocacy"]
            include_external_packages = true
            exclude_type_checking_imports = true

            [[tool.importlinter.contracts]]
            name = "domain imports no infrastructure"
            type = "forbidden"
            source_modules = ["toyadvocacy.domain"]
            forbidden_modules = ["pymongo", "toyadvocacy.adapters"]
            """
        )
    )
    lint_imports = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--config", "pyproject.toml"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(lint_imports, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    kept = run()
    assert kept.returncode == 0, kept.stdout + kept.stderr

    (package / "domain" / "store.py").write_text("from toyadvocacy.adapters import pymongo\n")
    broken = run()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "toyadvocacy.domain.store -> toyadvocacy.adapters" in broken.stdout
    assert "toyadvocacy.domain.typed" not in broken.stdout
