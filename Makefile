# Two commands for a new user: `make demo` and `make test`. Every install step lives here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/crossforce demo

lint: $(STAMP)
	$(VENV)/bin/ruff check federation node coordinator policies tests bench
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
