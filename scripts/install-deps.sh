#!/usr/bin/env bash
# Installs what fileport needs to build and test, from Debian 12 packages only.
# Idempotent and quiet when everything is present; uses sudo when not root.
#   scripts/install-deps.sh        build and test (make build, make test, make test-asan)
#   scripts/install-deps.sh fuzz   and also clang with libFuzzer and its sanitizers (make fuzz)
set -euo pipefail

PKGS=(
  g++ cmake make pkg-config ca-certificates curl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libpq-dev
  libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
)
# Node.js runs the official OpenAI SDK tests; keep a newer one if the machine has it.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
if [ "${1:-}" = fuzz ]; then
  PKGS+=(clang libclang-rt-14-dev llvm)  # llvm: llvm-symbolizer for readable crash stacks
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
