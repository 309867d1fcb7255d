# Everything a fresh machine needs is installed by these targets themselves.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins many libraries of its own: it gets a venv of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(CHECKOV_VENV)/.installed

# Debian's groovy needs a JAVA_HOME; the default-java link is missing on some machines.
export JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/default-java))
GROOVY_LINT := .lint/node_modules/.bin/npm-groovy-lint
GROOVY_FILES := vars/*.groovy,src/**/*.groovy,jenkins/**/Jenkinsfile,jenkins/*.groovy,Jenkinsfile

.PHONY: kind-up demo test lint lint-groovy typecheck unit system-deps benchmarks images clean

demo: $(STAMP)
	$(BIN)/pathops demo $(DEMO_ARGS)

test: $(STAMP) $(CHECKOV) system-deps lint lint-groovy typecheck unit

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

system-deps:
	scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check agents tests benchmarks
	$(BIN)/shellcheck scripts/*.sh .ci/run

$(GROOVY_LINT): .lint/package.json .lint/package-lock.json
	cd .lint && npm ci --no-audit --no-fund --silent
	touch $@

# CodeNarc's recommended-jenkinsfile rules (.groovylintrc.json) on the library and the pipelines.
lint-groovy: $(GROOVY_LINT) system-deps
	$(GROOVY_LINT) --noserver --failon warning --path . --files "$(GROOVY_FILES)" \
		--ignorepattern "**/node_modules/**,**/tests/**"

typecheck: $(STAMP)
	$(BIN)/mypy agents

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

benchmarks: $(STAMP) system-deps
	@for bench in benchmarks/*.py; do echo "== $$bench"; $(BIN)/python $$bench || exit 1; done

# For users with Docker: the demo's broken release in a kind cluster (see README).
kind-up: $(STAMP)
	scripts/kind-up.sh

# The agent images (buildah; REGISTRY, IMAGE_REVISION, PUSH=1): see images/README.md.
images:
	scripts/build-images.sh

# Regenerate the transitive pins after changing a version in pyproject.toml.
constraints: $(STAMP)
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache
