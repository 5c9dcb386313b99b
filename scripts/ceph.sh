#!/usr/bin/env bash
# A throwaway single-node Ceph (one monitor, one OSD, one RADOS Gateway) serving S3, for tests.
#
#   eval "$(scripts/ceph.sh start DIR)"   # exports FILEPORT_TEST_S3, AWS_ACCESS_KEY_ID,
#                                         # AWS_SECRET_ACCESS_KEY
#   scripts/ceph.sh stop DIR
#
# `start` installs the Debian packages when a program is missing, writes DIR/ceph.conf (every
# path inside DIR, everything on 127.0.0.1, free ports), starts ceph-mon, ceph-osd and radosgw,
# creates an S3 user with generated keys and the bucket `fileport-test`, waits until a signed
# S3 request succeeds and prints the shell lines to eval on stdout. Daemon logs go to DIR/log,
# their PIDs to DIR/pids. Ready in a few seconds.
#
# The OSD keeps its objects in memory (memstore, ~2x the bytes stored) unless
# FILEPORT_CEPH_OBJECTSTORE=bluestore, which puts them in a sparse file of
# FILEPORT_CEPH_BLUESTORE_SIZE (default 64G) for large tests. The gateway accepts multipart
# parts down to 64 KiB (S3 itself wants 5 MiB) so that tests can exercise many parts cheaply.
#
# `stop` stops the recorded daemons (TERM, then KILL after 5 s), gateway first and monitor
# last, and is harmless when nothing runs. On failure either command stops what it started
# and exits non-zero with one reason line on stderr, saying where the logs are.
set -euo pipefail

readonly BUCKET=fileport-test
readonly USER_ID=fileport-test
readonly MARKER=.fileport-ceph  # marks a DIR this script made, so a re-start may wipe it
readonly PROGRAMS=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl python3)
readonly PACKAGES=(ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl python3)
# Stop order: the gateway first (it is a client of the others), the monitor last.
readonly DAEMONS=(rgw osd mon)

STARTED=0  # set once this run launched a daemon: from then on a failure stops them

die() {
  local where=""
  [[ -n ${DIR:-} && -d $DIR/log ]] && where=" (logs in $DIR/log)"
  echo "ceph.sh: $*$where" >&2
  if ((STARTED)); then stop_daemons >/dev/null 2>&1 || true; fi
  exit 1
}

# The last non-empty line of a log file (without terminal colours), for one-line reasons.
last_line() {
  sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' "$1" 2>/dev/null | tail -n 1
}

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

install_packages() {
  local missing=() p
  for p in "${PROGRAMS[@]}"; do command -v "$p" >/dev/null || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null ||
      die "${missing[*]} missing and sudo is not available to install them"
    sudo=(sudo)
  fi
  local log=$DIR/log/apt.log
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq
    -o Dpkg::Use-Pty=0 install --no-install-recommends "${PACKAGES[@]}")
  if ! "${apt[@]}" >"$log" 2>&1; then
    # Usually stale or missing package lists: refresh them once and try again.
    "${sudo[@]}" apt-get -qq update >>"$log" 2>&1 || true
    "${apt[@]}" >>"$log" 2>&1 || die "apt-get install ${PACKAGES[*]} failed: $(last_line "$log")"
  fi
  for p in "${PROGRAMS[@]}"; do
    command -v "$p" >/dev/null || die "$p is still missing after apt-get"
  done
}

# Three distinct free TCP ports on 127.0.0.1 (held open together so they differ). Another
# process may still take one before the daemon binds it; the daemon then fails to start and
# the log says so.
free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

# Alive and still the process we started (a PID may be reused after a crash).
is_ours() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/ceph.conf"
}

# Starts a daemon in the foreground of a background job, output into DIR/log, PID recorded.
launch() {
  local name=$1
  shift
  "$@" -f -c "$DIR/ceph.conf" </dev/null >"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
  STARTED=1
}

# Polls `cmd` every 0.1 s until it succeeds; dies after `seconds` or when daemon `name` exits.
wait_for() {
  local seconds=$1 name=$2 what=$3
  shift 3
  local deadline=$((SECONDS + seconds)) pid
  pid=$(cat "$DIR/pids/$name.pid")
  until "$@" >/dev/null 2>&1; do
    if ! is_ours "$pid"; then
      local why
      why=$(last_line "$DIR/log/$name.out")
      die "$name exited while waiting for $what${why:+: $why}"
    fi
    ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what"
    sleep 0.1
  done
}

# `n` random characters from `alphabet`.
random_key() {
  python3 -c '
import secrets, sys
print("".join(secrets.choice(sys.argv[2]) for _ in range(int(sys.argv[1]))))' "$@"
}

write_conf() {
  local fsid=$1 mon_v2=$2 mon_v1=$3 rgw_port=$4 objectstore=$5
  cat >"$DIR/ceph.conf" <<EOF
# Written by scripts/ceph.sh: a throwaway one-node cluster. Nothing here is durable or secure.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
# The default 32 placement groups per pool exceed what one OSD may hold.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# The default 1 s per proposal makes each pool the gateway creates cost ~3 s.
paxos propose interval = 0.05
paxos min wait = 0.01
mon data avail warn = 1
mon data avail crit = 0

[mon.a]
mon data = $DIR/mon/a

[osd.0]
osd data = $DIR/osd/0
osd objectstore = $objectstore
memstore device bytes = $((4 << 30))
bluestore block path = $DIR/osd/0.block
bluestore block create = true
bluestore block size = ${FILEPORT_CEPH_BLUESTORE_SIZE:-64G}
bluestore fsck on mount = false

[client]
# With auth none, the gateway otherwise loops on "get_initial_auth_request returned -13".
ms mon client mode = crc

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
# Deleted data is freed within a minute instead of hours.
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw multipart min part size = 65536
EOF
}

start() {
  mkdir -p "$DIR" || die "cannot create $DIR"
  DIR=$(cd "$DIR" && pwd)
  local name pid
  for name in "${DAEMONS[@]}"; do
    pid=$(cat "$DIR/pids/$name.pid" 2>/dev/null || true)
    is_ours "$pid" && die "a cluster already runs in $DIR (run: $0 stop $DIR)"
  done
  if [[ -n $(ls -A "$DIR") ]]; then
    [[ -f $DIR/$MARKER ]] || die "$DIR is not empty and was not made by this script; choose another DIR"
    rm -rf "${DIR:?}"/{mon,osd,rgw,run,log,pids,crash,monmap,ceph.conf,env}
  fi
  touch "$DIR/$MARKER"
  mkdir -p "$DIR"/{mon/a,osd/0,rgw,run,log,pids,crash}
  install_packages

  local objectstore=${FILEPORT_CEPH_OBJECTSTORE:-memstore}
  case $objectstore in
    memstore | bluestore) ;;
    *) die "FILEPORT_CEPH_OBJECTSTORE must be memstore or bluestore, not '$objectstore'" ;;
  esac
  local ports mon_v2 mon_v1 rgw_port
  ports=$(free_ports) || die "cannot find free ports (python3 failed)"
  read -r mon_v2 mon_v1 rgw_port <<<"$ports"
  write_conf "$(uuidgen)" "$mon_v2" "$mon_v1" "$rgw_port" "$objectstore"
  export CEPH_CONF=$DIR/ceph.conf
  local fsid
  fsid=$(sed -n 's/^fsid = //p' "$CEPH_CONF")

  # Monitor.
  monmaptool --create --clobber --fsid "$fsid" \
    --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" "$DIR/monmap" >"$DIR/log/monmaptool.out" 2>&1 ||
    die "monmaptool failed: $(last_line "$DIR/log/monmaptool.out")"
  ceph-mon --id a --mkfs --monmap "$DIR/monmap" --keyring /dev/null -c "$CEPH_CONF" \
    >"$DIR/log/mon-mkfs.out" 2>&1 || die "ceph-mon --mkfs failed: $(last_line "$DIR/log/mon-mkfs.out")"
  launch mon ceph-mon --id a
  wait_for 30 mon "the monitor" ceph --connect-timeout 5 mon stat

  # OSD: registered with the monitor, made, started, and in the CRUSH map so pools can map.
  local osd_uuid osd_id
  osd_uuid=$(uuidgen)
  osd_id=$(ceph osd create "$osd_uuid" 2>"$DIR/log/osd-create.out") ||
    die "ceph osd create failed: $(last_line "$DIR/log/osd-create.out")"
  [[ $osd_id == 0 ]] || die "expected osd id 0 from a fresh monitor, got '$osd_id'"
  ceph osd crush add osd.0 1 root=default >"$DIR/log/osd-crush.out" 2>&1 ||
    die "ceph osd crush add failed: $(last_line "$DIR/log/osd-crush.out")"
  ceph-osd --id 0 --mkfs --osd-uuid "$osd_uuid" -c "$CEPH_CONF" >"$DIR/log/osd-mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed: $(last_line "$DIR/log/osd-mkfs.out")"
  launch osd ceph-osd --id 0
  osd_up() { ceph osd dump 2>/dev/null | grep -q '^osd.0 up'; }
  wait_for 60 osd "osd.0 to be up" osd_up

  # Gateway: it creates its pools, then opens the port; anonymous GET / answers once ready.
  launch rgw radosgw -n client.rgw.a
  wait_for 90 rgw "the gateway on port $rgw_port" \
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$rgw_port/"

  local access secret
  access=$(random_key 20 ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789)
  secret=$(random_key 40 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789)
  radosgw-admin user create --uid="$USER_ID" --display-name="fileport tests" \
    --access-key="$access" --secret-key="$secret" >"$DIR/log/user-create.out" 2>&1 ||
    die "radosgw-admin user create failed: $(last_line "$DIR/log/user-create.out")"

  # A signed request proves the keys work; the bucket is there before any test races for it.
  # curl signs the payload hash but does not send it: the header must be given.
  local code
  code=$(curl -s -o "$DIR/log/create-bucket.out" -w '%{http_code}' --max-time 10 -X PUT \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$rgw_port/$BUCKET") || true
  [[ $code == 200 ]] || die "creating bucket $BUCKET answered HTTP $code: $(head -c 300 "$DIR/log/create-bucket.out")"

  {
    echo "export FILEPORT_TEST_S3='s3://$BUCKET?endpoint=http://127.0.0.1:$rgw_port&region=us-east-1'"
    echo "export AWS_ACCESS_KEY_ID='$access'"
    echo "export AWS_SECRET_ACCESS_KEY='$secret'"
  } >"$DIR/env"
  cat "$DIR/env"
}

# Waits up to `tenths` tenths of a second for process `pid` to be gone (or no longer ours).
wait_gone() {
  local pid=$1 tenths=$2
  for _ in $(seq "$tenths"); do
    is_ours "$pid" || return 0
    sleep 0.1
  done
  ! is_ours "$pid"
}

# Stops the recorded daemons one by one, the gateway first and the monitor last: an OSD told to
# stop first reports to the monitor, and would wait 5 s for an answer from a monitor already
# gone. TERM, then KILL for a daemon still alive after 5 s.
stop_daemons() {
  local name pid
  for name in "${DAEMONS[@]}"; do
    pid=$(cat "$DIR/pids/$name.pid" 2>/dev/null || true)
    if is_ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      if ! wait_gone "$pid" 50; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 50 || echo "ceph.sh: $name (pid $pid) survived SIGKILL" >&2
      fi
    fi
    rm -f "$DIR/pids/$name.pid"
  done
}

stop() {
  [[ -d $DIR ]] || return 0
  DIR=$(cd "$DIR" && pwd)
  stop_daemons
}

(($# == 2)) || usage
DIR=$2
case $1 in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
