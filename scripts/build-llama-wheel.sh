#!/usr/bin/env bash
# Builds the pinned llama-cpp-python from source once per machine into build/wheels, so a new
# venv installs it in seconds. Its own wheel store rather than pip's cache: pip's cache
# would hand back a wheel built with other flags (see llama-cflags.sh).
#
#   scripts/build-llama-wheel.sh PYTHON    prints the wheel's path
#   LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" ...  a CUDA build (its own file name suffix)
set -euo pipefail

VERSION=0.3.36
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:?usage: build-llama-wheel.sh PYTHON}"
FLAVOUR="cpu"
[ -n "${LLAMA_CMAKE_ARGS:-}" ] && FLAVOUR="custom-$(printf '%s' "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)"
OUT="$ROOT/build/wheels/$FLAVOUR"

if ! compgen -G "$OUT/llama_cpp_python-$VERSION-*.whl" >/dev/null; then
  flags="$("$ROOT/scripts/llama-cflags.sh")"
  echo "building llama-cpp-python $VERSION from source ($FLAVOUR; about 10 minutes on 2 cores)" >&2
  mkdir -p "$OUT.tmp"
  CFLAGS="${CFLAGS:-} $flags" CXXFLAGS="${CXXFLAGS:-} $flags" CMAKE_ARGS="${LLAMA_CMAKE_ARGS:-}" \
    "$PY" -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
      "llama-cpp-python==$VERSION" -w "$OUT.tmp" >&2
  mkdir -p "$OUT" && mv "$OUT.tmp"/llama_cpp_python-"$VERSION"-*.whl "$OUT"/ && rm -rf "$OUT.tmp"
fi
ls "$OUT"/llama_cpp_python-"$VERSION"-*.whl | head -n 1
