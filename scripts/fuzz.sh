#!/usr/bin/env bash
# Runs every fuzz harness of tests/fuzz/ for FUZZ_SECONDS each (default 600) and
# prints the executions each one ran; exits non-zero if any harness crashed (the
# crashing input is kept in build/fuzz/artifacts/<target>/).
#   scripts/fuzz.sh                     # `make fuzz`: long runs
#   FUZZ_SECONDS=25 scripts/fuzz.sh     # `make fuzz-smoke`: the CI smoke run
#   FUZZ_TARGETS="scanner gguf" ...     # a subset
# The C++ harnesses (libFuzzer, ASan, UBSan) need clang and compiler-rt:
#   scripts/install-system-deps.sh clang libclang-rt-dev
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-600}
targets=${FUZZ_TARGETS:-scanner views gguf audit_log openai_request}
python=${PYTHON:-.venv/bin/python}
out=build/fuzz

native_targets=()
for target in $targets; do
  case $target in scanner|views) native_targets+=("$target") ;; esac
done
if [ ${#native_targets[@]} -gt 0 ]; then
  if ! command -v clang++ >/dev/null 2>&1; then
    echo "error: clang++ not found; install it with 'scripts/install-system-deps.sh clang libclang-rt-dev'" >&2
    exit 1
  fi
  cmake -S tests/fuzz -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build "$out" -j 2 >/dev/null
fi

# The working tree's package when its native module was built into it, else the one
# installed in the venv (`make install`).
if compgen -G "python/llmward/_core*.so" >/dev/null; then
  pythonpath=python:tests/fuzz
else
  pythonpath=tests/fuzz
fi

# Scratch files of the harnesses (the audit log one writes logs), removed at exit.
scratch=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/llmward-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export FUZZ_SCRATCH=$scratch

failed=()
summary=()
for target in $targets; do
  corpus=$out/corpus/$target
  artifacts=$out/artifacts/$target/
  log=$out/logs/$target.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  if [ -d "tests/fuzz/corpus/$target" ]; then cp -n tests/fuzz/corpus/$target/* "$corpus"/; fi
  # -timeout: compiling a random rule set can take Hyperscan over 10 s on a shared CPU.
  flags=(-max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1
         -artifact_prefix="$artifacts")
  case $target in
    scanner|views) command=("$out/fuzz_$target") ;;
    gguf) command=(env PYTHONPATH="$pythonpath" "$python" tests/fuzz/fuzz_gguf.py) ;;
    audit_log|openai_request)  # JSON: the dictionary's tokens reach past the parser
      command=(env PYTHONPATH="$pythonpath" "$python" "tests/fuzz/fuzz_$target.py")
      flags+=(-dict=tests/fuzz/dicts/json.dict)
      ;;
    *) echo "error: unknown fuzz target '$target'" >&2; exit 2 ;;
  esac
  echo "fuzzing $target for ${seconds}s (log: $log)"
  status=0
  "${command[@]}" "${flags[@]}" "$corpus" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ $status -ne 0 ]; then
    failed+=("$target")
    summary+=("$(printf '%-16s %12s  CRASH (exit %d): %s' "$target" "${runs:--}" "$status" \
                "$(ls -t "$artifacts" 2>/dev/null | head -1 | sed "s|^|$artifacts|")")")
    grep -v '^#[0-9]' "$log" | tail -40 >&2
  else
    summary+=("$(printf '%-16s %12s  ok' "$target" "${runs:-?}")")
  fi
done

echo
printf '%-16s %12s  (%ss each)\n' target executions "$seconds"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
