#!/usr/bin/env bash
# Installs what bench/run needs, from Debian packages and npm only:
#   nginx (Debian 12's `nginx` has the WebDAV module built in: --with-http_dav_module),
#   wrk, fio, gnuplot-nox (PNG charts), curl, python3, openssl, nodejs + npm,
#   and the tus anchor's npm packages (npm ci in bench/tus, from its committed lock file).
# Idempotent and quiet when everything is present; uses sudo when not root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

PKGS=(nginx wrk fio gnuplot-nox curl python3 openssl coreutils procps)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  had_nginx=0
  dpkg-query -W -f='${Status}' nginx 2>/dev/null | grep -q "install ok installed" && had_nginx=1
  echo "bench/install.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Another apt run on the machine holds the lock for a while: wait for it instead of failing.
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # On a machine with systemd the package starts a system-wide nginx on port 80. The bench runs
  # its own nginx as a child with a private config, so stop the one this install started.
  if [ $had_nginx -eq 0 ] && command -v systemctl >/dev/null 2>&1 &&
    systemctl is-active --quiet nginx 2>/dev/null; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

# The tus anchor: @tus/server + @tus/file-store at the versions of bench/tus/package-lock.json.
# npm ci only when node_modules is missing or older than the lock file.
if command -v npm >/dev/null 2>&1; then
  stamp="$HERE/tus/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$HERE/tus/package-lock.json" -nt "$stamp" ]; then
    echo "bench/install.sh: npm ci in bench/tus" >&2
    (cd "$HERE/tus" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
