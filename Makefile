# Two entry points: `make run` (install + train the demo) and `make test` (install + test).
# Both create .venv on first use; this machine's CPU torch is pinned by constraints.txt.
VENV ?= .venv
PYTHON ?= python3
PIP := $(VENV)/bin/pip
PIPFLAGS := -q -c constraints.txt

.PHONY: run test bench clean

run: $(VENV)/.installed-run
	$(VENV)/bin/framework run

test: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile -q

bench: $(VENV)/.installed-test
	$(VENV)/bin/python bench/run_all.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

$(VENV)/.installed-run: $(VENV)/bin/python requirements.txt constraints.txt pyproject.toml
	$(PIP) install $(PIPFLAGS) -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python requirements-test.txt constraints.txt pyproject.toml
	$(PIP) install $(PIPFLAGS) -r requirements-test.txt
	touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV)
