# Two entry points: `make run` (install + train the demo) and `make test` (install + test).
# Both create .venv on first use. On a machine without a CUDA GPU, constraints.txt pins the CPU
# build of torch; where `nvidia-smi` sees a GPU, the CUDA build is installed instead, and
# flash-attn on top when it builds (SDPA is used otherwise).
VENV ?= .venv
PYTHON ?= python3
PIP := PYTHONWARNINGS=ignore $(VENV)/bin/pip
CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
ifeq ($(CUDA),yes)
PIPFLAGS := -q
else
PIPFLAGS := -q -c constraints.txt
endif

.PHONY: run test bench gpu-smoke clean

run: $(VENV)/.installed-run
	$(VENV)/bin/framework run

test: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile -q

bench: $(VENV)/.installed-test
	$(VENV)/bin/python bench/run_all.py

# The first command on a GPU machine: every method and stage for a few steps, then bench/gpu.py.
# Without CUDA it says so in one line and exits 0.
gpu-smoke: $(VENV)/.installed-test
	$(VENV)/bin/python bench/gpu_smoke.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

$(VENV)/.installed-run: $(VENV)/bin/python requirements.txt constraints.txt pyproject.toml
	$(PIP) install $(PIPFLAGS) -r requirements.txt
ifeq ($(CUDA),yes)
	$(PIP) install -q --no-build-isolation 'flash-attn>=2.6.3' || echo "flash-attn did not build: SDPA attention will be used"
endif
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python requirements-test.txt constraints.txt pyproject.toml
	$(PIP) install $(PIPFLAGS) -r requirements-test.txt
	touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV)
