#!/usr/bin/env bash
# Figures of the server alone (no anchor peers; the comparative suite is bench/run):
#   - peak resident memory (VmHWM) during 8 parallel 64 MiB part uploads,
#     and during one 512 MiB POST /v1/files;
#   - time to complete a 1 GiB upload of 16 x 64 MiB parts, without and with md5.
# Usage: bench/server-figures.sh [path/to/fileport]   (default build/src/cli/fileport)
set -euo pipefail
BIN=${1:-build/src/cli/fileport}
WORK=$(mktemp -d /tmp/fileport-figures.XXXXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" --log-level warn >"$WORK/out" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q 'serving http' "$WORK/out" 2>/dev/null && break; sleep 0.05; done
B=$(grep -o 'http://[^ ]*/v1' "$WORK/out" | head -1)
hwm() { awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$PID/status; }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
upload() {  # bytes -> upload id
  curl -sf -H 'content-type: application/json' \
    -d "{\"bytes\":$1,\"filename\":\"x.bin\",\"mime_type\":\"application/octet-stream\",\"purpose\":\"assistants\"}" \
    "$B/uploads" | json '["id"]'
}
head -c $((64 << 20)) /dev/urandom >"$WORK/part"
echo "server at $B; idle peak RSS $(hwm)"

U=$(upload $((8 * (64 << 20))))
start=$(date +%s.%N)
pids=()
for i in $(seq 8); do
  curl -sf -H 'Expect:' -F data=@"$WORK/part" "$B/uploads/$U/parts" -o /dev/null & pids+=($!)
done
wait "${pids[@]}"
end=$(date +%s.%N)
echo "8 parallel 64 MiB parts: $(python3 -c "print(f'{512/($end-$start):.0f}')") MiB/s, peak RSS $(hwm)"

head -c $((512 << 20)) /dev/urandom >"$WORK/big"
t=$(curl -sf -H 'Expect:' -F purpose=assistants -F file=@"$WORK/big" "$B/files" -o /dev/null -w '%{time_total}')
echo "POST /v1/files 512 MiB: ${t}s, peak RSS $(hwm)"
rm -f "$WORK/big"

for mode in plain md5; do
  U=$(upload $((16 * (64 << 20))))
  ids=()
  for i in $(seq 16); do
    ids+=("$(curl -sf -H 'Expect:' -F data=@"$WORK/part" "$B/uploads/$U/parts" | json '["id"]')")
  done
  list=$(printf '"%s",' "${ids[@]}"); list="[${list%,}]"
  body="{\"part_ids\":$list}"
  if [ $mode = md5 ]; then
    sum=$(for i in $(seq 16); do cat "$WORK/part"; done | md5sum | cut -c1-32)
    body="{\"part_ids\":$list,\"md5\":\"$sum\"}"
  fi
  t=$(curl -sf -H 'content-type: application/json' -d "$body" "$B/uploads/$U/complete" -o "$WORK/c.json" -w '%{time_total}')
  echo "complete 1 GiB / 16 parts ($mode): ${t}s -> $(json '["status"]' <"$WORK/c.json")"
done
echo "md5sum of the same 1 GiB for reference: $( { /usr/bin/time -f %e bash -c "for i in \$(seq 16); do cat $WORK/part; done | md5sum >/dev/null"; } 2>&1 )s"
echo "final peak RSS $(hwm)"
