#!/usr/bin/env bash
# `make asan`: the C++ core and the bindings built with AddressSanitizer and
# UndefinedBehaviorSanitizer in build/asan (never the wheel's build), then
#   1. the native tests (tests/native) with leak checking: no leak may remain at exit;
#   2. the Python tests of the bindings against the sanitized llmward._core, with
#      libasan preloaded into the interpreter. CPython keeps objects alive until
#      exit by design, so leak checking is off for this run; ASan still aborts on
#      any out-of-bounds access or use after free, and UBSan on undefined behaviour.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
BUILD=${ASAN_BUILD_DIR:-build/asan}
JOBS=${ASAN_JOBS:-2}
CMAKE=$(dirname "$PY")/cmake
[ -x "$CMAKE" ] || CMAKE=cmake
# The Python tests that drive llmward._core directly (no server, no engine).
PYTHON_TESTS=(
  tests/test_scanner_basic.py tests/test_scanner_errors.py tests/test_scanner_anchors.py
  tests/test_scanner_oracle.py tests/test_stream.py tests/test_threads.py tests/test_cache.py
  tests/test_views.py tests/test_normalize.py tests/test_sanitize.py tests/test_prompt_scan.py
  tests/test_prompt_policy.py tests/test_validators.py tests/test_blake3.py tests/test_hashing.py
  tests/test_ratelimit_native.py
)

mkdir -p "$BUILD"
"$CMAKE" -S . -B "$BUILD" -DLLMWARD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER="${CXX:-g++}" -DPython_EXECUTABLE="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log"; exit 1; }
"$CMAKE" --build "$BUILD" -j "$JOBS" --target llmward_native_tests _core

common="abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== native tests under ASan + UBSan (leak checking on)"
ASAN_OPTIONS="detect_leaks=1:$common" "$BUILD/tests/native/llmward_native_tests"

echo "== Python binding tests against the sanitized llmward._core (leak checking off)"
# A copy of the package with the sanitized module in it, first on the import path.
pkg="$BUILD/python"
rm -rf "$pkg"
mkdir -p "$pkg"
cp -r python/llmward "$pkg/"
find "$pkg" \( -name '_core*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
cp "$BUILD"/_core*.so "$pkg/llmward/"
export PYTHONPATH="$pkg:tests"
# libstdc++ is preloaded with libasan: python does not link it, and without it
# ASan resolves no real __cxa_throw and aborts at the first C++ throw (Hyperscan's).
preload="$("${CXX:-g++}" -print-file-name=libasan.so) $("${CXX:-g++}" -print-file-name=libstdc++.so)"
# handle_sigbus=0: the hashing tests check that a SIGBUS outside a guarded mapped
# read still kills the process with SIGBUS, which ASan's own handler would turn into an abort.
run_python() {
  LD_PRELOAD="$preload" ASAN_OPTIONS="detect_leaks=0:handle_sigbus=0:$common" "$PY" "$@"
}
run_python - "$pkg" <<'EOF'
import pathlib, sys
import llmward._core as core
expected = pathlib.Path(sys.argv[1]).resolve()
if expected not in pathlib.Path(core.__file__).resolve().parents:
    sys.exit(f"llmward._core came from {core.__file__}, not the sanitized build in {expected}")
if "libasan" not in pathlib.Path("/proc/self/maps").read_text():
    sys.exit("the AddressSanitizer runtime is not loaded")
print("sanitized module:", core.__file__)
EOF
# --capture=sys: a sanitizer report (written to fd 2) reaches the log, not pytest's capture.
run_python -m pytest -q -p no:cacheprovider --capture=sys "${PYTHON_TESTS[@]}"
