#!/usr/bin/env bash
# Runs every test suite against an already built tree and prints one closing tally.
#   scripts/run-tests.sh BUILD_DIR [FUZZ_BUILD_DIR]
# Suites: the C++ suites under ctest (unit, conformance, end-to-end over loopback HTTP) and
# the official OpenAI Node SDK against a freshly started server, and, given a tree built with
# -DFILEPORT_FUZZ=ON (`make fuzz-build`), each libFuzzer target for FUZZ_SECONDS (default 15).
# A suite that cannot run here is reported as skipped, loudly, never as passed.
set -uo pipefail
BUILD=${1:-build}
FUZZ_BUILD=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

fail=0

# Real engines for the scale-out backends: PostgreSQL 15 and a single-node Ceph RGW (S3),
# started from Debian packages by the project's own scripts and stopped by PID at the end.
# One that cannot start is reported here; the suites that need it then skip, loudly, and
# their skips are counted below.
ENGINES=$(mktemp -d "${TMPDIR:-/tmp}/fileport-engines.XXXXXX")
chmod 755 "$ENGINES"  # PostgreSQL runs as its own user when this runs as root
stop_engines() {
  scripts/ceph.sh stop "$ENGINES/ceph" >/dev/null 2>&1 || true
  scripts/postgres.sh stop "$ENGINES/pg" >/dev/null 2>&1 || true
  rm -rf "$ENGINES"
}
trap stop_engines EXIT
start_engine() {  # name script dir
  local out
  if out=$("$2" start "$3" 2>"$3.err"); then
    eval "$out"
    echo "== $1 started ($3)"
  else
    echo "== $1 NOT STARTED: $(tail -n 1 "$3.err") — its suites will be skipped"
  fi
}
if [ "${FILEPORT_SKIP_ENGINES:-0}" = 1 ]; then
  echo "== FILEPORT_SKIP_ENGINES=1: PostgreSQL and Ceph suites will be skipped"
else
  start_engine "PostgreSQL" scripts/postgres.sh "$ENGINES/pg"
  start_engine "Ceph RGW (S3)" scripts/ceph.sh "$ENGINES/ceph"
fi

echo "== C++ suites (ctest)"
ctest --test-dir "$BUILD" --output-on-failure -j 2 --timeout 600 2>&1 | tee "$BUILD/ctest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
cpp_line=$(grep -E 'tests passed|tests failed' "$BUILD/ctest.log" | tail -1)
cpp_total=$(echo "$cpp_line" | sed -E 's/.* out of ([0-9]+).*/\1/')
cpp_failed=$(echo "$cpp_line" | sed -E 's/.*, ([0-9]+) tests failed.*/\1/;t;s/.*/0/')
cpp_skipped=$(grep -cE '\*\*\*Skipped|Not Run' "$BUILD/ctest.log" || true)

echo "== OpenAI SDK suite (node)"
sdk_passed=0; sdk_failed=0; sdk_skipped=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  tests/sdk/run.sh "$BUILD/src/cli/fileport" 2>&1 | tee "$BUILD/sdk.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
  sdk_passed=$(grep -E '^# pass ' "$BUILD/sdk.log" | tail -1 | awk '{print $3}')
  sdk_failed=$(grep -E '^# fail ' "$BUILD/sdk.log" | tail -1 | awk '{print $3}')
  sdk_skipped=$(grep -E '^# skipped ' "$BUILD/sdk.log" | tail -1 | awk '{print $3}')
  [ -n "$sdk_passed" ] || { sdk_passed=0; fail=1; }
  [ -n "$sdk_failed" ] || sdk_failed=0
  [ -n "$sdk_skipped" ] || sdk_skipped=0
else
  echo "SKIPPED: OpenAI SDK suite: node/npm not installed"
  sdk_skipped=1
fi

echo "== multi-node suite: 3 nodes on PostgreSQL + S3 (node)"
mn_passed=0; mn_failed=0; mn_skipped=0
if command -v node >/dev/null 2>&1; then
  tests/sdk/multinode/run.sh "$BUILD/src/cli/fileport" 2>&1 | tee "$BUILD/multinode.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
  mn_passed=$(grep -E '^# pass ' "$BUILD/multinode.log" | tail -1 | awk '{print $3}')
  mn_failed=$(grep -E '^# fail ' "$BUILD/multinode.log" | tail -1 | awk '{print $3}')
  mn_skipped=$(grep -E '^# skipped ' "$BUILD/multinode.log" | tail -1 | awk '{print $3}')
  [ -n "$mn_passed" ] || { mn_passed=0; fail=1; }
  [ -n "$mn_failed" ] || mn_failed=0
  [ -n "$mn_skipped" ] || mn_skipped=0
else
  echo "SKIPPED: multi-node suite: node not installed"
  mn_skipped=1
fi

# Bounded libFuzzer runs (each target replays its corpus, then fuzzes): one result per target.
fz_passed=0; fz_failed=0; fz_skipped=0
fz_targets=6
if [ -z "$FUZZ_BUILD" ]; then
  echo "SKIPPED: libFuzzer runs: no fuzz build given (make test builds one with clang)"
  fz_skipped=$fz_targets
elif ! command -v clang++ >/dev/null 2>&1; then
  echo "SKIPPED: libFuzzer runs: clang++ is not installed (scripts/install-deps.sh fuzz)"
  fz_skipped=$fz_targets
else
  echo "== libFuzzer runs: ${FUZZ_SECONDS:-15}s per target ($FUZZ_BUILD)"
  fuzz/run.sh "$FUZZ_BUILD" "${FUZZ_SECONDS:-15}" 2>&1 | tee "$BUILD/fuzz.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
  # fuzz/run.sh ends with "all N targets passed" or "FAILED: target ...".
  if grep -qE "^all $fz_targets targets passed" "$BUILD/fuzz.log"; then
    fz_passed=$fz_targets
  else
    fz_failed=$(grep -E '^FAILED: ' "$BUILD/fuzz.log" | tail -1 | wc -w)
    fz_failed=$(( fz_failed > 1 ? fz_failed - 1 : fz_targets ))
    fz_passed=$(( fz_targets - fz_failed ))
    fail=1
  fi
fi

cpp_total=${cpp_total:-0}; cpp_failed=${cpp_failed:-0}
passed=$(( cpp_total - cpp_failed - cpp_skipped + sdk_passed + mn_passed + fz_passed ))
failed=$(( cpp_failed + sdk_failed + mn_failed + fz_failed ))
skipped=$(( cpp_skipped + sdk_skipped + mn_skipped + fz_skipped ))
echo
echo "== summary: C++ ${cpp_total} run (${cpp_failed} failed, ${cpp_skipped} skipped); SDK ${sdk_passed} passed, ${sdk_failed} failed, ${sdk_skipped} skipped; multi-node ${mn_passed} passed, ${mn_failed} failed, ${mn_skipped} skipped; fuzz ${fz_passed} passed, ${fz_failed} failed, ${fz_skipped} skipped"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$fail" -eq 0 ] && [ "$failed" -eq 0 ]
