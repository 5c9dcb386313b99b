#!/usr/bin/env bash
# Runs the libFuzzer targets of a tree configured with -DFILEPORT_FUZZ=ON.
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# For each target (all of them by default): first replays its seed corpus
# (fuzz/corpus/<target>/: every input must pass), then fuzzes for SECONDS from those seeds
# plus what earlier runs found (BUILD_DIR/fuzz-work/<target>/, kept out of the repository),
# and prints the coverage reached. A crash leaves its input in BUILD_DIR/fuzz-artifacts/ and
# fails the run. To act on one: reproduce with `BUILD_DIR/fuzz/<target> FILE`, shrink it with
# `-minimize_crash=1`, fix the code, add the input to fuzz/corpus/<target>/ and a unit test.
set -uo pipefail
BUILD=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(multipart_fuzzer content_headers_fuzzer json_bodies_fuzzer query_fuzzer
           api_request_fuzzer values_fuzzer)
fi
# Leaks are findings too; UBSan already stops at the first report (-fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

mkdir -p "$BUILD/fuzz-artifacts"
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$BUILD/fuzz/$t"
  seeds="$ROOT/fuzz/corpus/$t"
  work="$BUILD/fuzz-work/$t"
  log="$BUILD/fuzz-work/$t.log"
  mkdir -p "$work"
  dict=()
  [ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
  if [ ! -x "$bin" ]; then
    echo "== $t: $bin is missing (build with -DFILEPORT_FUZZ=ON)"
    failed+=("$t"); continue
  fi

  echo "== $t: replaying $(find "$seeds" -type f | wc -l) seed inputs"
  if ! find "$seeds" -type f -print0 | xargs -0 "$bin" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "== $t: FAILED on its seed corpus"
    failed+=("$t"); continue
  fi

  echo "== $t: fuzzing for ${secs}s"
  "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$t-" \
    "$work" "$seeds" >"$log" 2>&1
  rc=$?
  stats=$(grep -aE '^#[0-9]+' "$log" | tail -n 1 | sed -E 's/^#([0-9]+)\s+\S+\s+/runs \1 /; s/ (lim|exec\/s|rss|L|MS):.*//')
  execs=$(grep -a 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    grep -aE 'FUZZ_CHECK|ERROR: |runtime error|SUMMARY|Test unit written' "$log" | head -n 20
    echo "== $t: CRASHED (log $log)"
    failed+=("$t")
    summary+=("$t: CRASHED")
  else
    summary+=("$t: ${stats}, ${execs} exec/s")
  fi
done

echo
echo "== fuzz summary (${secs}s per target)"
for line in "${summary[@]}"; do echo "  $line"; done
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all ${#targets[@]} targets passed"
