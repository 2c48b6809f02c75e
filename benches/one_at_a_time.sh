#!/usr/bin/env bash
# Latency one message at a time (issue 27): the mixed capture over one
# session at RATE msg/s (default 1000: a message every millisecond, so each
# is alone in the proxy), open loop, through no proxy, HAProxy `mode tcp`,
# the limit relay, and origuard with audit `none` and `batch`; p50 and p99
# from the intended send time, and what each adds over no proxy. With
# BEFORE=BINARY (and BEFORE_POLICY=FILE when that binary cannot read
# today's policy) the older origuard runs too; BEFORE_AUDIT=LINES adds
# `[audit]` keys to its configuration (BEFORE=target/release/origuard
# BEFORE_AUDIT='preallocate = 0': this build without the live file's room). Also the median fdatasync of
# a 4 KiB append in the audit directory, for the `batch` target.
#
# Usage: benches/one_at_a_time.sh [SECONDS]   (each run, default 5)
# Loopback only; every run bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
RATE=${RATE:-1000}
. benches/common.sh
build_relays
$B gen --count 8000 --seed 42 --direction outbound --mix mixed "$T/mixed" 2>/dev/null
: > "$T/r.jsonl"
run() { # name bench-args...
  local name=$1; shift
  local out; out=$($B bench --capture "$T/mixed" --json --rate "$RATE" --duration "${DUR}s" --connections 1 "$@" || true)
  python3 -c 'import json,sys; d=json.loads(sys.argv[2] or "{}"); d["relay"]=sys.argv[1]; print(json.dumps(d))' "$name" "$out" >> "$T/r.jsonl"
}
origuard() { # name sync binary policy [audit lines]
  local F U; F=$(port); U=$(port)
  serve_config "$T/o.toml" "$F" "$U" "$T/audit-$1.jsonl" "$2" "$4" 1 "${5:-}"
  "$3" serve --config "$T/o.toml" 2>"$T/serve.log" & local OP=$!; PIDS+=("$OP")
  wait_port "$F"
  run "$1" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$4"
  stop "$OP"
}

run none --target self
F=$(port); U=$(port)
printf 'global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nfrontend f\n  bind 127.0.0.1:%s\n  default_backend b\nbackend b\n  server s 127.0.0.1:%s\n' "$F" "$U" > "$T/h.cfg"
haproxy -f "$T/h.cfg" -db >/dev/null 2>&1 & HP=$!; PIDS+=("$HP"); wait_port "$F"
run haproxy --target "127.0.0.1:$F" --listen "127.0.0.1:$U"; stop "$HP"
F=$(port); U=$(port)
"$LR" "127.0.0.1:$F" "127.0.0.1:$U" "$T/limit.log" & LP=$!; PIDS+=("$LP"); wait_port "$F"
run limit --target "127.0.0.1:$F" --listen "127.0.0.1:$U"; stop "$LP"
origuard origuard-none none "$B" "$P"
origuard origuard-batch batch "$B" "$P"
if [ -n "${BEFORE:-}" ]; then
  origuard before-none none "$BEFORE" "$BP" "${BEFORE_AUDIT:-}"
  origuard before-batch batch "$BEFORE" "$BP" "${BEFORE_AUDIT:-}"
fi
FSYNC=$(fsync_probe)
python3 - "$T/r.jsonl" "$FSYNC" "$RATE" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
fs = float(sys.argv[2])
by = {r["relay"]: r for r in rows}
def lat(r, k):
    v = r.get(f"{k}_us")
    return float(v) if v is not None else float("nan")
n50, n99 = lat(by["none"], "p50"), lat(by["none"], "p99")
h50, h99 = lat(by["haproxy"], "p50") - n50, lat(by["haproxy"], "p99") - n99
print(f"one session, mixed, {sys.argv[3]} msg/s open loop (µs from intended send; added = over no proxy)")
print(f"{'relay':<16}{'p50':>8}{'p99':>8}{'added p50':>11}{'added p99':>11}{'×HAProxy p50':>14}{'×HAProxy p99':>14}  missing")
for r in rows:
    p50, p99 = lat(r, "p50"), lat(r, "p99")
    a50, a99 = p50 - n50, p99 - n99
    x50 = a50 / h50 if r["relay"] != "none" and h50 > 0 else float("nan")
    x99 = a99 / h99 if r["relay"] != "none" and h99 > 0 else float("nan")
    print(f"{r['relay']:<16}{p50:>8.0f}{p99:>8.0f}{a50:>11.0f}{a99:>11.0f}{x50:>14.2f}{x99:>14.2f}  {r.get('missing', '?')}")
print(f"median fdatasync (4 KiB append): {fs:.0f} µs; HAProxy's added p50 + 1.5 fdatasync = {h50 + 1.5 * fs:.0f} µs")
PY
