# Two commands do all set-up on a fresh machine: `make test` and `make serve`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .stamps
SOURCES := pyproject.toml CMakeLists.txt $(wildcard cmake/*.cmake) \
           $(shell find cpp src python -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.py' -o -name '*.pyi' \) 2>/dev/null)

.PHONY: all deps install test lint bench serve clean

all: install

$(STAMPS)/system-deps: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	scripts/install-system-deps.sh
	@touch $@

$(STAMPS)/venv: $(STAMPS)/system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@touch $@

$(STAMPS)/install: $(STAMPS)/venv $(SOURCES)
	$(PY) -m pip install -q '.[dev,interop,server]'
	@touch $@

# redis-server: the distributed rate limiter's tests start one on a free loopback port.
$(STAMPS)/test-system-deps: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	scripts/install-system-deps.sh redis-server
	@touch $@

# b3sum: a peer of the hashing benchmark.
$(STAMPS)/bench-system-deps: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	scripts/install-system-deps.sh b3sum
	@touch $@

# The benchmark also needs its heavy peers (the `bench` extra: llm-guard, torch, ...), which
# `make test` never installs. One pip run resolves all three extras together: llm-guard pins
# cryptography below 44.1, and model-signing then comes with a sigstore that accepts it. The set
# includes '.[dev,interop,server]', so the install stamp is refreshed too.
$(STAMPS)/bench-install: $(STAMPS)/venv $(STAMPS)/bench-system-deps $(STAMPS)/test-system-deps $(SOURCES)
	$(PY) -m pip install -q '.[dev,interop,server,bench]'
	@touch $@ $(STAMPS)/install

deps: $(STAMPS)/system-deps
install: $(STAMPS)/install

lint: install
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/mypy

test: install $(STAMPS)/test-system-deps lint
	$(PY) -m pytest tests

bench: $(STAMPS)/bench-install
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-columns=median,iqr,ops -q

# `make serve`: everything set up, then the default model on http://127.0.0.1:8080.
# `make serve GPU=1` first rebuilds llama-cpp-python with CUDA (needs nvcc; see README);
# SERVE_ARGS passes options through, e.g. SERVE_ARGS="--port 9000 --parallel 8".
GPU ?=
SERVE_ARGS ?=
ifneq ($(GPU),)
serve: install $(STAMPS)/llama-cuda
	$(VENV)/bin/llmward serve --n-gpu-layers -1 $(SERVE_ARGS)
else
serve: install
	$(VENV)/bin/llmward serve $(SERVE_ARGS)
endif

# Once per machine (the CUDA build takes about 20 minutes on 2 cores).
$(STAMPS)/llama-cuda: $(STAMPS)/install
	CMAKE_ARGS="-DGGML_CUDA=on" $(PY) -m pip install -q --force-reinstall --no-deps \
	    --no-binary llama-cpp-python 'llama-cpp-python==0.3.36'
	@touch $@

clean:
	rm -rf build $(STAMPS) $(VENV)
