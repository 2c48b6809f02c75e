#!/usr/bin/env bash
# What overlapping syncs could buy (issue 27): origuard `serve` with audit
# `batch` and `none`, in one run, at saturation (the mixed capture, CONNS
# sessions, `--rate max`) and one message at a time (one session, 1,000
# msg/s open loop): messages per second, fdatasync calls per message, and
# the share of the run the log's syncer spent inside fdatasync
# (`perf trace -s`). Overlapping syncs can only shorten the time messages
# wait behind a sync that is already running: at most what `batch` loses to
# `none` at saturation, and nothing for a lone message that never meets one.
#
# Usage: benches/sync_share.sh [BINARY] [SECONDS]
#   BINARY defaults to target/release/origuard; SECONDS (each run) to 6.
# Environment: CONNS (default 4), POLICY.
# Loopback only; every run bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-$PWD/target/release/origuard}
DUR=${2:-6}
CONNS=${CONNS:-4}
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
. benches/common.sh
"$B" gen --count 20000 --seed 42 --direction outbound --mix mixed "$T/mixed" 2>/dev/null
: > "$T/rows"
one() { # name sync rate conns
  local F U OP PT R
  F=$(port); U=$(port)
  serve_config "$T/o.toml" "$F" "$U" "$T/audit-$1.jsonl" "$2" "$P"
  "$B" serve --config "$T/o.toml" 2>"$T/serve.log" & OP=$!; PIDS+=("$OP")
  wait_port "$F"
  perf trace -s -e fdatasync -p "$OP" -o "$T/trace-$1" & PT=$!
  sleep 0.3
  local t0 t1
  t0=$(date +%s.%N)
  R=$("$B" bench --capture "$T/mixed" --json --target "127.0.0.1:$F" --listen "127.0.0.1:$U" \
    --policy "$P" --rate "$3" --duration "${DUR}s" --connections "$4" || true)
  t1=$(date +%s.%N)
  kill -INT "$PT"; wait "$PT" 2>/dev/null || true
  stop "$OP"
  python3 - "$1" "$R" "$T/trace-$1" "$t0" "$t1" >> "$T/rows" <<'PY'
import json, re, sys
name, r, trace, t0, t1 = sys.argv[1], json.loads(sys.argv[2] or "{}"), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
n = r.get("passed", 0) + r.get("changed", 0)
calls, total = 0, 0.0
for line in open(trace):
    m = re.match(r"\s*fdatasync\s+(\d+)\s+\d+\s+([\d.]+)", line)
    if m:
        calls += int(m.group(1)); total += float(m.group(2))
print(json.dumps({"name": name, "n": n, "rate": r.get("msgs_per_sec", 0), "p50": r.get("p50_us"),
                  "calls": calls, "ms": total, "wall": t1 - t0}))
PY
}
one saturated-batch batch max "$CONNS"
one saturated-none none max "$CONNS"
one alone-batch batch 1000 1
one alone-none none 1000 1
python3 - "$T/rows" <<'PY'
import json, sys
rows = {r["name"]: r for r in map(json.loads, open(sys.argv[1]))}
print(f"{'run':<18}{'msg/s':>10}{'p50 µs':>10}{'fdatasync/msg':>15}{'mean sync µs':>14}{'syncing %':>11}")
for k, r in rows.items():
    n = max(r["n"], 1)
    mean = r["ms"] * 1000 / r["calls"] if r["calls"] else float("nan")
    print(f"{k:<18}{r['rate']:>10.0f}{(r['p50'] or 0):>10.0f}{r['calls'] / n:>15.3f}{mean:>14.0f}{100 * r['ms'] / 1000 / r['wall']:>11.1f}")
sb, sn = rows["saturated-batch"], rows["saturated-none"]
print(f"saturated: batch ÷ none {sb['rate'] / sn['rate']:.2f} — the most overlapping syncs could recover is {100 * (1 - sb['rate'] / sn['rate']):.0f} % of none's rate")
PY
