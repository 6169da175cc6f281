#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server`, the serving benchmark's upper reference, from the
# llama.cpp sources vendored in the llama-cpp-python sdist we pin: the same llama.cpp that
# llmward and llama-cpp-python's server run, so the comparison is of the serving layers.
#
#   benchmarks/build_llama_server.sh [OUT_DIR]    (default: build/llama-server, gitignored)
#
# Takes several minutes on 2 cores; runs under `nice` so a machine in use stays usable.
set -euo pipefail

VERSION=0.3.36
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/build/llama-server}"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
JOBS="${JOBS:-$(nproc)}"
WORK="$OUT/src"

mkdir -p "$WORK"
"$PIP" download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK"
tar -xzf "$WORK/llama_cpp_python-$VERSION.tar.gz" -C "$WORK"
LLAMA="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"

# CURL off: no network model downloads; NATIVE on, with the flags of llama-cflags.sh: the
# same CPU features as the project's build of llama-cpp-python gets; static: one
# self-contained binary, the sources can go.
flags="$("$ROOT/scripts/llama-cflags.sh")"
nice cmake -S "$LLAMA" -B "$LLAMA/build" -DLLAMA_CURL=OFF -DGGML_NATIVE=ON \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DCMAKE_BUILD_TYPE=Release
nice cmake --build "$LLAMA/build" --target llama-server -j "$JOBS"

cp "$LLAMA/build/bin/llama-server" "$OUT/llama-server"
rm -rf "$WORK"
echo "built $OUT/llama-server"
