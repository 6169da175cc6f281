# Two commands do all set-up on a fresh machine: `make test` and `make serve`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .stamps
# Pins of the server environment (scripts/freeze-constraints.sh writes it); `CONSTRAINTS=` unpins.
CONSTRAINTS ?= constraints/server.txt
SOURCES := pyproject.toml CMakeLists.txt $(wildcard cmake/*.cmake) \
           $(shell find cpp src python -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.py' -o -name '*.pyi' \) 2>/dev/null)

.PHONY: all deps install test lint bench serve clean check sast secret-scan asan fuzz fuzz-smoke sbom bench-smoke

all: install

$(STAMPS)/system-deps: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	scripts/install-system-deps.sh
	@touch $@

$(STAMPS)/venv: $(STAMPS)/system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@touch $@

# llama-cpp-python from the project's own wheel store: built from source once per machine,
# with the flags of scripts/llama-cflags.sh (pip's cache could hand back another build).
# Found by name in that folder, not installed from a file path: pip then records no direct URL,
# and the SBOM names it as the PyPI package (pkg:pypi/llama-cpp-python) it was built from.
$(STAMPS)/llama: $(STAMPS)/venv scripts/build-llama-wheel.sh scripts/llama-cflags.sh
	$(PY) -m pip install -q --no-deps --force-reinstall --no-index \
	    --find-links "$$(dirname "$$(scripts/build-llama-wheel.sh $(PY))")" 'llama-cpp-python==0.3.36'
	@touch $@

$(STAMPS)/install: $(STAMPS)/venv $(STAMPS)/llama $(SOURCES) $(CONSTRAINTS)
	$(PY) -m pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) '.[dev,interop,server]'
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
# includes '.[dev,interop,server]', so the install stamp is refreshed too. The server's
# constraints are not applied here: they pin a cryptography above llm-guard's bound.
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

# The benchmark report: the results every benchmark must write (benchmarks/report_data.py).
BENCH_NAMES := scanner,guard,hash,ratelimit,keys,audit,cache,engine,serving
BENCH_OUT := benchmarks/results
BENCH_SMOKE_OUT := build/bench-smoke

# The security gates (issue 8); `.ci/run` calls `make check` after `make test`.
check: sast secret-scan sbom asan fuzz-smoke bench-smoke

# Bandit (configured in pyproject.toml) and ruff's security rules; ignores are inline, with reasons.
sast: install
	$(VENV)/bin/bandit -c pyproject.toml -r python -q
	$(VENV)/bin/ruff check --select S python tests benchmarks

# llmward's own secrets pack over the files a clean clone holds (tracked, plus new files git does
# not ignore); findings outside .llmward-scan-allowlist (test fixtures) fail. Without git, the
# tree (the walk skips .git, .venv, build and the other generated folders).
SCAN := $(VENV)/bin/llmward scan --secrets --allowlist .llmward-scan-allowlist
secret-scan: install
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard | xargs -0 -r $(SCAN) --; \
	else $(SCAN) .; fi

# CycloneDX SBOM of the installed environment (.venv), from package metadata only: offline.
sbom: install
	scripts/sbom.sh $(PY) build/sbom.cdx.json

# ASan + UBSan build in build/asan: tests/native with leak checks, then the bindings' tests.
asan: install
	PY=$(PY) scripts/asan.sh

# clang and compiler-rt: libFuzzer, ASan and UBSan for the C++ harnesses (tests/fuzz/).
$(STAMPS)/fuzz-system-deps: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	scripts/install-system-deps.sh clang libclang-rt-dev
	@touch $@

# Every harness for FUZZ_SECONDS (long runs by hand), or 20 s each in CI; a crash fails.
FUZZ_SECONDS ?= 600
fuzz: install $(STAMPS)/fuzz-system-deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) PYTHON=$(PY) scripts/fuzz.sh

fuzz-smoke: install $(STAMPS)/fuzz-system-deps
	FUZZ_SECONDS=20 PYTHON=$(PY) scripts/fuzz.sh

# Every benchmark at its smallest size (LLMWARD_BENCH_SMOKE=1), then the report from their results,
# in build/ (the committed report stays): a benchmark that breaks, or writes no results, fails.
bench-smoke: install $(STAMPS)/test-system-deps
	rm -rf $(BENCH_SMOKE_OUT)
	LLMWARD_BENCH_SMOKE=1 LLMWARD_BENCH_RESULTS=$(BENCH_SMOKE_OUT)/data $(PY) -m pytest benchmarks \
	    -q -p no:cacheprovider --benchmark-min-rounds=1 --benchmark-max-time=0 --benchmark-warmup=off
	LLMWARD_BENCH_SMOKE=1 LLMWARD_BENCH_RESULTS=$(BENCH_SMOKE_OUT)/data \
	    $(PY) benchmarks/engine_throughput.py --tokens 4 --rounds 1 --concurrency 1,2
	$(PY) benchmarks/make_report.py --data $(BENCH_SMOKE_OUT)/data --out $(BENCH_SMOKE_OUT) \
	    --require $(BENCH_NAMES)

# Every benchmark (pytest runs them all, pytest-benchmark's or not), then the report:
# benchmarks/results/REPORT.md and its plots/, from the results each wrote in data/.
bench: $(STAMPS)/bench-install
	rm -rf $(BENCH_OUT)/data
	LLMWARD_BENCH_RESULTS=$(BENCH_OUT)/data $(PY) -m pytest benchmarks \
	    --benchmark-columns=median,iqr,ops -q
	LLMWARD_BENCH_RESULTS=$(BENCH_OUT)/data $(PY) benchmarks/engine_throughput.py
	$(PY) benchmarks/make_report.py --data $(BENCH_OUT)/data --out $(BENCH_OUT) \
	    --require $(BENCH_NAMES)

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
	$(PY) -m pip install -q --force-reinstall --no-deps --no-index --find-links \
	    "$$(dirname "$$(LLAMA_CMAKE_ARGS=-DGGML_CUDA=on scripts/build-llama-wheel.sh $(PY))")" \
	    'llama-cpp-python==0.3.36'
	@touch $@

# Keeps build/wheels: llama-cpp-python's wheel costs 10 minutes to rebuild.
clean:
	if [ -d build ]; then find build -mindepth 1 -maxdepth 1 ! -name wheels -exec rm -rf {} +; fi
	rm -rf $(STAMPS) $(VENV)
