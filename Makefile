# The two commands a newcomer needs: `make dev` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup lint test test-unit test-integration test-data dev controlplane data-deps e2e-kind bench crds tools argocd-lua argo-rollouts

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

lint: setup
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy operator/tierkeeper

# crds/, and the copy the kustomize base needs (manifests/base/crds).
crds: setup
	$(BIN)/tierkeeper crds --output-dir crds
	$(BIN)/tierkeeper crds --output-dir manifests/base/crds

test-unit: setup
	$(BIN)/pytest tests/unit

# The local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok), built from the Go modules pinned in hack/controlplane into
# ~/.cache/tierkeeper/controlplane only when missing (cold: see hack/controlplane/README.md).
controlplane:
	bash hack/controlplane/build.sh

test-integration: setup controlplane
	TIERKEEPER_REQUIRE_ALL=1 $(BIN)/pytest tests/integration

# A local cluster with the operator, the CRDs and examples/, watched until Ctrl-C. It builds
# the control plane itself when missing, with a progress line instead of Go's output.
dev: setup
	$(BIN)/tierkeeper dev

# The integration suite against the cluster KUBECONFIG points at (kind, where Docker exists);
# TIERKEEPER_TEST_IMAGE must name an image its nodes can pull and run.
e2e-kind: setup
	TIERKEEPER_EXISTING_CLUSTER=1 $(BIN)/pytest tests/integration

# Real PostgreSQL, Redis and S3 (versitygw) for the data tests, barman-cloud for their
# WAL archive and base backups, and rclone for the off-site copy (each installed or built
# only when missing).
data-deps:
	bash hack/install-data-deps.sh
	bash hack/install-versitygw.sh
	bash hack/install-barman-cloud.sh

# promtool for the alert-rule tests in tests/tools, npm and GitHub's example webhook payloads
# for the deploy hook's parser tests (apt-get and npm install only when missing).
tools:
	bash hack/install-tools.sh

# The Argo CD health checks and resource actions (integrations/argocd) in Argo CD's own Lua
# VM: gopher-lua at the version Argo CD pins, with only the libraries Argo CD opens
# (hack/argocd-lua, its modules from the Go module proxy). -count=1: Go caches a test's
# result and rechecks only the files inside its module, and the scripts are outside it.
argocd-lua:
	cd hack/argocd-lua && go test -count=1 ./...

# The Argo Rollouts controller and its CRDs, the bench's peer (hack/argo-rollouts), built from
# its Go module into ~/.cache/tierkeeper/argo-rollouts only when missing. Not part of `make
# test`: only the bench runs it.
argo-rollouts:
	bash hack/argo-rollouts/build.sh

# Benchmarks on the local control plane (bench/README.md): bench/results.json (45 minutes on 2
# cores, see its Findings); `make bench BENCH_ARGS=--quick` for a smaller run in < 3
# (bench/results-quick.json).
bench: setup controlplane argo-rollouts
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Everything: lint, unit, integration (local control plane) and data (PostgreSQL, Redis).
# TIERKEEPER_REQUIRE_ALL turns a missing toolchain into an error instead of a skip.
test: setup lint data-deps controlplane tools argocd-lua
	TIERKEEPER_REQUIRE_ALL=1 $(BIN)/pytest tests
