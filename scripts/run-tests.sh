#!/usr/bin/env bash
# Runs every test suite against an already built tree and prints one closing tally.
#   scripts/run-tests.sh BUILD_DIR
# Suites: the C++ suites under ctest (unit, conformance, end-to-end over loopback HTTP) and
# the official OpenAI Node SDK against a freshly started server. A suite that cannot run
# here is reported as skipped, loudly, never as passed.
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

fail=0
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

cpp_total=${cpp_total:-0}; cpp_failed=${cpp_failed:-0}
passed=$(( cpp_total - cpp_failed - cpp_skipped + sdk_passed ))
failed=$(( cpp_failed + sdk_failed ))
skipped=$(( cpp_skipped + sdk_skipped ))
echo
echo "== summary: C++ ${cpp_total} run (${cpp_failed} failed, ${cpp_skipped} skipped); SDK ${sdk_passed} passed, ${sdk_failed} failed, ${sdk_skipped} skipped"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$fail" -eq 0 ] && [ "$failed" -eq 0 ]
