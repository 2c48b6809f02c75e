#!/usr/bin/env bash
# What a durable log costs at saturation, and of what (issue 27): origuard
# `serve` at saturation (mixed capture, CONNS sessions, `--rate max`) with
# audit `batch` on the disk, `batch` on tmpfs (/dev/shm: the same commits,
# waits and wake-ups, but an `fdatasync` that costs nothing), and `none` on
# the disk, alternating for ROUNDS rounds. For each: messages per second,
# origuard's CPU µs per message (utime+stime from /proc/PID/stat over the
# run), the machine's idle share, and bytes written to storage per message
# (/proc/PID/io write_bytes). When `batch` on tmpfs runs faster than on the
# disk while the machine has no idle CPU in either, the cost of syncing is
# CPU (the kernel's sync path), not time spent waiting for a sync, and
# nothing that only overlaps syncs can win it back.
#
# With BEFORE=BINARY, that binary's `batch` on the disk runs in each round
# too (`before` rows): one change's A/B in the same run.
#
# Usage: benches/sync_cost.sh [BINARY] [ROUNDS] [SECONDS]
#   BINARY defaults to target/release/origuard, ROUNDS to 6, SECONDS to 5.
# Environment: CONNS (default 4), POLICY, BEFORE.
# Loopback only; every run bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-$PWD/target/release/origuard}
ROUNDS=${2:-6}
DUR=${3:-5}
CONNS=${CONNS:-4}
. benches/common.sh
SHM=$(mktemp -d -p /dev/shm)
trap 'cleanup; rm -rf "$SHM"' EXIT
"$B" gen --count 20000 --seed 42 --direction outbound --mix mixed "$T/mixed" 2>/dev/null
HZ=$(getconf CLK_TCK)
: > "$T/rows"
one() { # name binary sync dir
  local F U OP R I0 I1 C0 C1 WB
  F=$(port); U=$(port)
  serve_config "$T/o.toml" "$F" "$U" "$4/audit.jsonl" "$3" "$P"
  "$2" serve --config "$T/o.toml" 2>"$T/serve.log" & OP=$!; PIDS+=("$OP")
  wait_port "$F"
  I0=$(awk '/^cpu /{print $5+$6}' /proc/stat); C0=$(awk '{print $14+$15}' "/proc/$OP/stat")
  R=$("$2" bench --capture "$T/mixed" --json --target "127.0.0.1:$F" --listen "127.0.0.1:$U" \
    --policy "$P" --rate max --duration "${DUR}s" --connections "$CONNS" || true)
  I1=$(awk '/^cpu /{print $5+$6}' /proc/stat); C1=$(awk '{print $14+$15}' "/proc/$OP/stat")
  WB=$(awk '/^write_bytes/{print $2}' "/proc/$OP/io")
  stop "$OP"
  rm -f "$4"/audit.jsonl*
  python3 - "$1" "${R:-{\}}" "$((I1 - I0))" "$((C1 - C0))" "$WB" "$HZ" "$DUR" "$(nproc)" >> "$T/rows" <<'PY'
import json, sys
name, r, idle, cpu, wb, hz, dur, cores = sys.argv[1], json.loads(sys.argv[2]), *map(float, sys.argv[3:])
n = max(r.get("passed", 0) + r.get("changed", 0), 1)
print(json.dumps({"name": name, "rate": r.get("msgs_per_sec", 0), "cpu_us": cpu / hz * 1e6 / n,
                  "idle": idle / hz / (dur * cores), "wb": wb / n}))
PY
}
for _ in $(seq "$ROUNDS"); do
  one batch-disk "$B" batch "$T"
  one batch-tmpfs "$B" batch "$SHM"
  one none-disk "$B" none "$T"
  if [ -n "${BEFORE:-}" ]; then one before-batch-disk "$BEFORE" batch "$T"; fi
done
python3 - "$T/rows" <<'PY'
import json, statistics, sys
rows = {}
for r in map(json.loads, open(sys.argv[1])):
    rows.setdefault(r["name"], []).append(r)
med = lambda k, key: statistics.median(x[key] for x in rows[k])
print(f"{'run':<18}{'msg/s (median)':>15}{'min–max':>18}{'CPU µs/msg':>12}{'idle %':>8}{'disk B/msg':>12}")
for k in rows:
    rs = [x["rate"] for x in rows[k]]
    print(f"{k:<18}{med(k, 'rate'):>15.0f}{f'{min(rs):.0f}–{max(rs):.0f}':>18}{med(k, 'cpu_us'):>12.2f}"
          f"{100 * med(k, 'idle'):>8.1f}{med(k, 'wb'):>12.0f}")
d, t, n = (med(k, "rate") for k in ("batch-disk", "batch-tmpfs", "none-disk"))
print(f"batch on disk ÷ none {d / n:.2f}; ÷ batch on tmpfs {d / t:.2f}; "
      f"CPU per message, disk ÷ tmpfs {med('batch-disk', 'cpu_us') / med('batch-tmpfs', 'cpu_us'):.2f}")
if "before-batch-disk" in rows:
    b = med("before-batch-disk", "rate")
    print(f"batch on disk, this ÷ before {d / b:.2f}; disk bytes per message "
          f"{med('batch-disk', 'wb'):.0f} against {med('before-batch-disk', 'wb'):.0f}")
PY
