# Two commands for a new user: `make demo` and `make test`. Every install step lives here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Debian's Chromium: tests/scenario/test_networks_browser.py opens networks.html in it.
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test bench lint clean libsodium console

# The web console's JavaScript libraries (Cytoscape.js, vis-timeline, and Swagger UI for the
# coordinator API's /docs; versions pinned in
# package-lock.json), from the npm registry into federation/console/node_modules, which
# both consoles serve (no CDN at run time). Reinstalled when the lock file changes.
CONSOLE       := federation/console
CONSOLE_STAMP := $(CONSOLE)/node_modules/.installed

$(CONSOLE_STAMP): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is missing; the web console's" \
		"libraries are installed with it (Node 20: apt-get install nodejs npm)" >&2; exit 1; }
	cd $(CONSOLE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

console: $(CONSOLE_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Debian's libsodium23: pysodium (the key service's reference RFC 9497 VOPRF) loads it.
# Checked on every run (cheap); root (CI) installs it, anyone else is told the command.
libsodium:
	@if ldconfig -p 2>/dev/null | grep -q 'libsodium\.so\.23'; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian libsodium23 for the key service"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends libsodium23; \
	else \
		echo "error: libsodium23 is missing; the key service needs Debian's libsodium." >&2; \
		echo "  install it:  sudo apt-get update && sudo apt-get install -y --no-install-recommends libsodium23" >&2; \
		exit 1; \
	fi

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY) libsodium
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) $(CONSOLE_STAMP)
	$(VENV)/bin/crossforce demo
	@echo "to browse the results in the web consoles: $(VENV)/bin/crossforce demo --out DIR --serve"

lint: $(STAMP)
	$(VENV)/bin/ruff check federation node coordinator policies scenario tests bench
	$(VENV)/bin/lint-imports

test: lint $(CHROMIUM) $(CONSOLE_STAMP)
	CROSSFORCE_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -n 2 -q

# A file target: nothing runs when the browser is already there. Root (CI) installs it;
# anyone else is told the command and the test run stops.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian chromium for the browser test"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium; \
	else \
		echo "error: $(CHROMIUM) is missing; the browser test needs Debian's chromium." >&2; \
		echo "  install it:  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2; \
		echo "  or point at another build:  make test CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi
	@test -x $(CHROMIUM) || { echo "error: chromium installed, but not at $(CHROMIUM)" >&2; exit 1; }

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info $(CONSOLE)/node_modules
