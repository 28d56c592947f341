# Advocacy: `make run` runs the whole platform locally, `make test` passes the tests.
# Everything a fresh machine lacks (Python env, Kafka jars, FerretDB) is installed on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
UV_VERSION  := 0.13.9
LOCAL       := .local
UV          := $(LOCAL)/tools/uv/bin/uv
PY          := .venv/bin/python
PROTOS      := $(shell find protos -name '*.proto' | sort)
KUSTOMIZE   := $(LOCAL)/tools/bin/kustomize
KUSTOMIZE_VERSION := v5.7.1

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON_BOOT) -m venv $(LOCAL)/tools/uv
	$(LOCAL)/tools/uv/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

$(KUSTOMIZE):
	@command -v go >/dev/null || { echo "Go is required to install kustomize (and FerretDB): install golang" >&2; exit 1; }
	GOBIN=$(abspath $(LOCAL)/tools/bin) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# promtool (alert rule checks and unit tests) comes from Debian's prometheus package.
.PHONY: promtool
promtool:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  else echo "promtool is required: install Debian's prometheus package (or put promtool on PATH)" >&2; exit 1; fi; }

.PHONY: install
install: .venv/.synced $(KUSTOMIZE) promtool ## Install the locked Python env, Kafka + FerretDB, kustomize, promtool
	$(PY) infra/stack.py install

.PHONY: proto
proto: .venv/.synced ## Regenerate gen/python from protos/ (stubs and .pyi type stubs)
	rm -rf gen/python/advocacy
	$(call protoc,gen/python)

# Generates into OUT: message code, gRPC stubs and .pyi type stubs (messages by protoc, gRPC stubs by
# mypy-protobuf), with package __init__ files.
define protoc
	mkdir -p $(1)
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(1) --pyi_out=$(1) --grpc_python_out=$(1) \
		--plugin=protoc-gen-mypy_grpc=.venv/bin/protoc-gen-mypy_grpc --mypy_grpc_out=quiet:$(1) $(PROTOS)
	find $(1)/advocacy -type d -exec touch {}/__init__.py \;
endef

.PHONY: check-generated
check-generated: .venv/.synced ## Fail when gen/ differs from what protos/ generate (stale or hand-edited)
	rm -rf $(LOCAL)/gen-check
	$(call protoc,$(LOCAL)/gen-check)
	@diff -r $(LOCAL)/gen-check/advocacy gen/python/advocacy >/dev/null || \
		{ diff -r $(LOCAL)/gen-check/advocacy gen/python/advocacy | head -20; \
		  echo "gen/ is stale: run 'make proto' and commit the result" >&2; exit 1; }

.PHONY: lint
lint: .venv/.synced ## ruff, mypy and the import contracts ([tool.importlinter] in pyproject.toml)
	$(PY) -m ruff check services infra tests bench
	$(PY) -m ruff format --check services infra tests bench
	$(PY) -m mypy services infra bench
	.venv/bin/lint-imports

.PHONY: up
up: install ## Start only the local Kafka + FerretDB (idempotent) and provision the topics
	$(PY) infra/stack.py start
	$(PY) -m services.cli topics

.PHONY: down
down: ## Stop the local Kafka + FerretDB (data is kept in .local/)
	$(PY) infra/stack.py stop

.PHONY: run
DEMO ?= 1
run: install ## Run the platform with a live demo company and view (DEMO=0: the platform alone); Ctrl-C stops it all
	$(PY) -m services.platform $(if $(filter 0,$(DEMO)),--no-demo,)

.PHONY: test
test: install check-generated lint ## Lint, then unit, integration and end-to-end tests on the real broker and FerretDB
	$(PY) -m pytest

.PHONY: test-faults
test-faults: install ## The fault suite alone (R1-R4, tests/faults), figures printed (about 12 min)
	$(PY) -m pytest -s tests/faults

.PHONY: k8s-check
k8s-check: install ## Validate the Kubernetes overlays (schemas, structure) and the alert rules (promtool)
	$(PY) -m pytest -q tests/unit/test_k8s_manifests.py tests/unit/test_k8s_schemas.py tests/unit/test_monitoring.py

.PHONY: test-unit
test-unit: .venv/.synced $(KUSTOMIZE) ## Unit tests only (no servers; kustomize renders the manifests)
	$(PY) -m pytest tests/unit

.PHONY: bench
bench: install ## Benchmarks, each figure a ratio against a baseline measured in the same run
	$(PY) -m bench

.PHONY: soak
soak: install ## The demo at its default rates for ADVOCACY_SOAK_MINUTES (30) on its own stack; every service's RSS growth
	$(PY) -m bench.soak

.PHONY: bench-scale
bench-scale: install ## P4 at full size (100k advocates, 1M shares, 10M engagements: many hours here; BENCH_SCALE_* resize)
	$(PY) -m bench.scale

.PHONY: clean
clean: down ## Stop the stack and delete its data (.local/dev)
	rm -rf $(LOCAL)/dev
