# The two commands of the README: `make run` and `make test`. Both set up
# everything first (Graphviz and Chromium where root can install them, a virtual environment,
# the CPU build of torch pinned here only, the project with its extras, whose
# install compiles the core's set hook when a C compiler is there).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of torch; pyproject.toml itself accepts any torch>=2.2.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
export OMP_NUM_THREADS ?= 1
# 1 when $(PYTHON) has its headers and its C compiler: then the install builds
# the compiled set hook, and `make test` requires it (STATEFIRE_REQUIRE_COMPILED).
CAN_COMPILE = $(shell $(PYTHON) -c "import os, shlex, shutil, sysconfig as s; print(int(os.path.exists(os.path.join(s.get_paths()['include'], 'Python.h')) and shutil.which(shlex.split(s.get_config_var('CC') or 'cc')[0]) is not None))")

.PHONY: setup run test peer lint bench docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml pipeline/_speedups.c
	@command -v dot >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) \
	  || echo "note: Graphviz 'dot' is not installed; graphs are written as .dot source"; }
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: Chromium is not installed; the browser tests of the HTML view are skipped"; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	@if [ "$(CAN_COMPILE)" != 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  pkgs=gcc; [ "$$($(PYTHON) -c 'import sys; print(sys.base_prefix)')" = /usr ] && pkgs="gcc python3-dev"; \
	  apt-get update -qq && apt-get install -y -qq $$pkgs >/dev/null || true; fi
	$(PY) -m pip install -q -e ".[dev,examples,docs]"
	@STATEFIRE_PURE_PYTHON= $(PY) -c "from pipeline._hooks import COMPILED; print('statefire set hook:', 'compiled' if COMPILED else 'pure Python: no C compiler or Python headers, or the build failed (slower, see docs/performance.md)')"
	touch $@

run: setup
	$(PY) examples/mnist_with_tensorboard.py --epochs 12 --output-dir outputs/digits

test: setup
	$(PY) -m ruff check pipeline nodes tests examples benchmarks
	$(PY) -m ruff format --check pipeline nodes tests examples benchmarks
	$(PY) -m mypy
	STATEFIRE_PURE_PYTHON=1 $(PY) -m pytest -q tests/pipeline tests/nodes --cov --cov-report=
	STATEFIRE_REQUIRE_COMPILED=$(CAN_COMPILE) $(PY) -m pytest --cov --cov-append --cov-report=term-missing:skip-covered
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site
	@$(MAKE) --no-print-directory peer

# pytorch-ignite's own tests of its engine, handlers and metrics, on ignite's Engine and on
# nodes.IgniteEngine (tests/peer/run_peer.py; downloads the installed version's sources once
# into .cache/peer with pip).
peer: setup
	$(PY) tests/peer/run_peer.py

bench: setup
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_memory.py
	$(PY) benchmarks/bench_fanout.py
	$(PY) benchmarks/bench_trace.py
	$(PY) benchmarks/bench_live.py
	$(PY) benchmarks/bench_views.py

docs: setup
	$(PY) docs/make_graphs.py
	$(PY) docs/make_api.py
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: Chromium is not installed; the TensorBoard and page screenshots need it (apt-get install chromium)"; }
	$(PY) docs/make_page_screenshot.py
	$(PY) docs/make_tensorboard_screenshot.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) outputs site .cache .pytest_cache .mypy_cache .ruff_cache .coverage
