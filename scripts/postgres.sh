#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests.
#
#   eval "$(scripts/postgres.sh start DIR)"   # exports FILEPORT_TEST_POSTGRES
#   scripts/postgres.sh stop DIR
#
# `start` installs the Debian package `postgresql` when the server programs are missing,
# creates a cluster in DIR/data (trust auth, listening on 127.0.0.1 only on a free port, its
# unix socket in DIR/run, fsync off: nothing in it is worth keeping), waits until it accepts
# connections and prints the shell lines to eval on stdout; everything else goes to DIR/*.log.
# initdb and postgres refuse to run as root, so as root they run as the `postgres` user.
# `stop` stops the cluster by the PID in DIR/data/postmaster.pid; it is harmless when nothing
# runs. On failure either command exits non-zero with one reason line on stderr.
set -euo pipefail

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly MARKER=.fileport-postgres  # marks a DIR this script made, so a re-start may wipe it

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

# Runs a server program as the cluster's owner: `postgres` when we are root, else ourselves.
# The working directory must be readable by that user (initdb and pg_ctl look at it).
as_owner() {
  if ((EUID == 0)); then
    (cd "$DIR" && runuser -u postgres -- "$@")
  else
    (cd "$DIR" && "$@")
  fi
}

install_server() {
  [[ -x $PG_BIN/initdb ]] && return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "$PG_BIN/initdb is missing and sudo is not available to install postgresql"
    sudo=(sudo)
  fi
  local log
  log=$(mktemp)
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq
    -o Dpkg::Use-Pty=0 install --no-install-recommends postgresql)
  if ! "${apt[@]}" >"$log" 2>&1; then
    # Usually stale or missing package lists: refresh them once and try again.
    "${sudo[@]}" apt-get -qq update >>"$log" 2>&1 || true
    "${apt[@]}" >>"$log" 2>&1 || die "apt-get install postgresql failed: $(tail -n 1 "$log")"
  fi
  rm -f "$log"
  [[ -x $PG_BIN/initdb ]] || die "postgresql is installed but $PG_BIN/initdb is missing (not version 15?)"
}

# The PID in postmaster.pid when that process is alive; empty otherwise.
running_pid() {
  local pidfile=$DIR/data/postmaster.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && [[ -d /proc/$pid ]]; then echo "$pid"; fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_env() {
  echo "export FILEPORT_TEST_POSTGRES='postgres://postgres@127.0.0.1:$1/postgres'"
}

start() {
  mkdir -p "$DIR" || die "cannot create $DIR"
  DIR=$(cd "$DIR" && pwd)
  if [[ -n $(running_pid) ]]; then
    [[ -f $DIR/port ]] || die "a PostgreSQL already runs in $DIR/data but $DIR/port is missing"
    print_env "$(cat "$DIR/port")"
    return 0
  fi
  if [[ -e $DIR/data ]]; then
    [[ -f $DIR/$MARKER ]] || die "$DIR/data exists and was not made by this script; choose another DIR"
    rm -rf "$DIR/data" "$DIR/run"
  fi
  # The socket path must fit in sockaddr_un (107 bytes) with "/.s.PGSQL.NNNNN" appended, and
  # pg_ctl passes it to the server inside one option string.
  ((${#DIR} <= 80)) || die "DIR path is too long for a unix socket (over 80 characters): $DIR"
  [[ $DIR != *[[:space:]]* ]] || die "DIR must not contain white space: $DIR"

  install_server
  touch "$DIR/$MARKER"
  mkdir -p "$DIR/run"
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "user postgres does not exist (is the postgresql package installed?)"
    chown postgres: "$DIR" "$DIR/run"
    runuser -u postgres -- test -x "$DIR" ||
      die "user postgres cannot reach $DIR (a parent directory is not searchable); use a DIR under /tmp"
  fi

  as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 -N \
    >"$DIR/initdb.log" 2>&1 || die "initdb failed: $(tail -n 1 "$DIR/initdb.log")"

  # Another process may take the port between the probe and the bind: then try another one.
  local port
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 \
      -o "-p $port -k $DIR/run -c listen_addresses=127.0.0.1 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >"$DIR/pg_ctl.log" 2>&1; then
      echo "$port" >"$DIR/port"
      print_env "$port"
      return 0
    fi
    # A failed start that is not a taken port will fail the same way again.
    grep -q "could not bind\|Address already in use" "$DIR/postgres.log" 2>/dev/null || break
  done
  die "PostgreSQL did not start: $(tail -n 1 "$DIR/postgres.log" 2>/dev/null || tail -n 1 "$DIR/pg_ctl.log")"
}

stop() {
  [[ -d $DIR ]] || return 0
  DIR=$(cd "$DIR" && pwd)
  local pid
  pid=$(running_pid)
  [[ -n $pid ]] || return 0
  as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >>"$DIR/pg_ctl.log" 2>&1 && return 0
  # pg_ctl failed (missing, or the server ignored the request): signal the postmaster directly.
  # SIGINT is a fast shutdown, SIGQUIT an immediate one; the helpers exit with the postmaster.
  local sig
  for sig in INT QUIT KILL; do
    kill -s "$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      [[ -d /proc/$pid ]] || return 0
      sleep 0.2
    done
  done
  die "PostgreSQL (pid $pid) did not stop"
}

(($# == 2)) || usage
DIR=$2
case $1 in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
