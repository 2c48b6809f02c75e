#!/usr/bin/env bash
# A CPU profile of `origuard serve` at saturation (issue 27): `perf record
# -F 999 -g` on the serving process while `origuard bench` offers CAPTURE
# (mixed, photo or small) over CONNS sessions at `--rate max`; then the
# share of samples per thread and per object, and the symbols with the
# most self time.
#
# Usage: benches/profile.sh [BINARY] [CAPTURE] [SYNC] [SECONDS]
#   defaults: target/release/origuard, mixed, batch, 6.
# Environment: CONNS (default 4), POLICY, TOP (symbols shown, default 30),
#   OUT (perf data file, default a scratch file removed on exit).
# Loopback only; bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-$PWD/target/release/origuard}
MIX=${2:-mixed}
SYNC=${3:-batch}
DUR=${4:-6}
CONNS=${CONNS:-4}
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
. benches/common.sh
OUT=${OUT:-$T/perf.data}
"$B" gen --count 20000 --seed 42 --direction outbound --mix "$MIX" "$T/cap" 2>/dev/null
F=$(port); U=$(port)
serve_config "$T/o.toml" "$F" "$U" "$T/audit.jsonl" "$SYNC" "$P"
"$B" serve --config "$T/o.toml" 2>"$T/serve.log" & OP=$!; PIDS+=("$OP")
wait_port "$F"
perf record -F 999 -g -p "$OP" -o "$OUT" 2>/dev/null & PR=$!
sleep 0.3
"$B" bench --capture "$T/cap" --json --target "127.0.0.1:$F" --listen "127.0.0.1:$U" \
  --policy "$P" --rate max --duration "${DUR}s" --connections "$CONNS" |
  python3 -c 'import json, sys; print(round(json.load(sys.stdin)["msgs_per_sec"]), "msg/s while profiled")'
kill -INT "$PR"; wait "$PR" 2>/dev/null || true
stop "$OP"
for key in comm dso; do
  perf report -i "$OUT" --no-children --sort "$key" --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -6
done
perf report -i "$OUT" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' |
  head -"${TOP:-30}" | sed -E 's/ +- +- *$//; s/ +$//'
