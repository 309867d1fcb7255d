# Everything a fresh machine needs is installed by these targets themselves. `make help` lists them.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo needs the agents and its stand-ins only, not the test tools: a venv of its own.
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
# checkov pins many libraries of its own: it gets a venv of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(CHECKOV_VENV)/.installed

# Debian's groovy needs a JAVA_HOME; the default-java link is missing on some machines.
export JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/default-java))
GROOVY_LINT := .lint/node_modules/.bin/npm-groovy-lint
GROOVY_FILES := vars/*.groovy,src/**/*.groovy,jenkins/**/Jenkinsfile,jenkins/*.groovy,Jenkinsfile

.PHONY: help kind-up demo test lint lint-groovy typecheck unit system-deps benchmarks images images-test \
	constraints clean

help: ## list the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  make %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

demo: $(DEMO_STAMP) ## the golden path end to end with local stand-ins (DEMO_ARGS="--workdir DIR" keeps it all)
	$(DEMO_VENV)/bin/pathops demo $(DEMO_ARGS)

$(DEMO_STAMP): pyproject.toml constraints.txt
	@echo "make demo: installing the agents and the demo extra into $(DEMO_VENV) (first run only)"
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --disable-pip-version-check --progress-bar on -c constraints.txt -e '.[demo]'
	touch $@

test: $(STAMP) $(CHECKOV) system-deps lint lint-groovy typecheck unit ## lint, type checks and the test suite

$(STAMP): pyproject.toml constraints.txt
	@echo "make: installing the agents and the test tools into $(VENV) (first run only, a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -c constraints.txt -e '.[test]'
	touch $@

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

system-deps: ## the Debian packages the tests and images use (as root; only the missing ones)
	scripts/install-system-deps.sh

lint: $(STAMP) ## ruff and shellcheck
	$(BIN)/ruff check agents tests benchmarks
	$(BIN)/shellcheck scripts/*.sh .ci/run

$(GROOVY_LINT): .lint/package.json .lint/package-lock.json
	cd .lint && npm ci --no-audit --no-fund --silent
	touch $@

# CodeNarc's recommended-jenkinsfile rules (.groovylintrc.json) on the library and the pipelines.
lint-groovy: $(GROOVY_LINT) system-deps ## CodeNarc on the shared library and the pipelines
	$(GROOVY_LINT) --noserver --failon warning --path . --files "$(GROOVY_FILES)" \
		--ignorepattern "**/node_modules/**,**/tests/**"

typecheck: $(STAMP) ## mypy --strict on agents/
	$(BIN)/mypy agents

# Two workers on this project's 2-core machines: 8.5 minutes instead of 13 (PYTEST_WORKERS=0: one process).
PYTEST_WORKERS ?= auto
unit: $(STAMP) ## pytest only (PYTEST_ARGS="-k ...")
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

benchmarks: $(STAMP) system-deps ## speed and memory figures of benchmarks/
	@for bench in benchmarks/*.py; do echo "== $$bench"; $(BIN)/python $$bench || exit 1; done

# For users with Docker: the demo's broken release in a kind cluster (see README).
kind-up: $(DEMO_STAMP) ## Docker + kind: the demo's broken release in a real cluster
	PATHOPS=$(DEMO_VENV)/bin/pathops scripts/kind-up.sh

# The agent images (buildah; REGISTRY, IMAGE_REVISION, PUSH=1): see images/README.md.
images: ## the images of images/ with buildah (PYTHON_IMAGE unset: a Debian base made here, needs debootstrap and root; PUSH=1 needs PYTHON_IMAGE)
	scripts/build-images.sh

images-test: $(STAMP) system-deps ## build the images in a storage of their own and run them (tests/images)
	PYTEST=$(BIN)/pytest scripts/test-images.sh

# Regenerate the transitive pins after changing a version in pyproject.toml.
constraints: $(STAMP) ## regenerate constraints.txt after changing a pin in pyproject.toml
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > constraints.txt

clean: ## remove the venvs and caches (not the Debian base: ~/.cache/pathops)
	rm -rf $(VENV) $(DEMO_VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache
