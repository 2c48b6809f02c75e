#!/usr/bin/env bash
# Side-by-side load comparison (issue 11): one invocation, one machine,
# three captures
#   photo   today's generator default (many 20-60 KB photos, ~17 KB mean)
#   mixed   ~4 KB mean: 40 % legacy DR, 30 % legacy DQ, 20 % small NIEM DR,
#           10 % NIEM DR with a 20-60 KB photo
#   small   legacy text only (~300 B)
# through four relays
#   none     no proxy (bench talks to itself), plus `bench --raw` to show
#            the load generator is not the bottleneck
#   haproxy  HAProxy `mode tcp`
#   limit    the limit relay (benches/limit_relay/relay.rs, issue 27): one
#            thread, frames every message, one pass over its bytes, a
#            chained SHA-256 record per message appended to a file, no sync
#   origuard audit `batch` (durable, the default) and audit `none`, each with
#            every value of WORKERS as `[limits] decision_workers`
# at saturation (--rate max). For each relay process: msg/s and the ratio to
# HAProxy, CPU µs per message (utime+stime from /proc/PID/stat over the run,
# divided by the messages that arrived) and peak RSS (VmHWM of a fresh
# process), and origuard's throughput divided by the limit relay's. Then,
# on the mixed capture: latency at RATE msg/s open loop for every relay,
# the median fdatasync of a 4 KiB append on the audit directory (timed
# loop), and origuard's peak RSS with 1,000 sessions and its RSS once they
# closed. Also one session alone (mixed: HAProxy, the limit relay and
# audit batch).
#
# Usage: benches/compare.sh [SECONDS]   (each run, default 5)
# Environment: WORKERS="1 2" (decision_workers values, default "1"),
#   RATE (default 20000), CONNS (default 4), TLS=1 adds origuard with
#   mutual TLS on the mixed capture, KEEP=DIR keeps the raw JSON there,
#   BEFORE=BINARY adds that origuard binary (`before-*` rows, saturation and
#   one session, first value of WORKERS) so a change is read in one run;
#   BEFORE_POLICY=FILE is the policy it runs (default: the one of this tree;
#   give the older tree's when its binary cannot read today's);
#   BEFORE_AUDIT=LINES adds `[audit]` keys to its configuration
#   (BEFORE=target/release/origuard BEFORE_AUDIT='preallocate = 0': this
#   build without the live file's room, one lever's A/B in one run).
# Installs haproxy from Debian packages if missing. Loopback only; every
# run is bounded by its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
RATE=${RATE:-20000}
CONNS=${CONNS:-4}
WORKERS=${WORKERS:-1}
. benches/common.sh
build_relays
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TCK=$(getconf CLK_TCK)

$B gen --count 4000 --seed 42 --direction outbound "$T/photo" 2>/dev/null
$B gen --count 8000 --seed 42 --direction outbound --mix mixed "$T/mixed" 2>/dev/null
$B gen --count 20000 --seed 42 --direction outbound --mix small "$T/small" 2>/dev/null
[ "${TLS:-0}" = 1 ] && deploy/gen-test-certs.sh "$T/certs" >/dev/null

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# A run with messages missing still prints its JSON (exit 1): record it.
bench() { local cap=$1; shift; $B bench --capture "$T/$cap" --json "$@" || true; }

results="$T/results.jsonl"; : > "$results"
record() { # capture relay mode json [cpu_ticks pid]
  python3 - "$@" >> "$results" <<'PY'
import json, sys
cap, relay, mode, js = sys.argv[1:5]
d = json.loads(js) if js.strip() else {"msgs_per_sec": 0, "missing": -1, "unexpected": -1, "errors": ["no output"]}
d.update(capture=cap, relay=relay, mode=mode)
if len(sys.argv) > 5:
    d["cpu_ticks"] = int(sys.argv[5]); d["hwm_kib"] = int(sys.argv[6])
print(json.dumps(d))
PY
}
# Runs bench against a relay process, sampling its CPU and peak RSS.
measured() { # capture relay mode pid bench-args...
  local cap=$1 relay=$2 mode=$3 pid=$4; shift 4
  local t0; t0=$(ticks "$pid")
  local out; out=$(bench "$cap" "$@")
  local t1; t1=$(ticks "$pid")
  record "$cap" "$relay" "$mode" "$out" $((t1 - t0)) "$(hwm "$pid")"
}

haproxy_up() { # F U
  cat > "$T/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind 127.0.0.1:$1
  default_backend b
backend b
  server s 127.0.0.1:$2
CFG
  haproxy -f "$T/haproxy.cfg" -db >/dev/null 2>&1 & HP=$!; PIDS+=("$HP")
  wait_port "$1"
}

limit_up() { # F U
  rm -f "$T/limit.log"
  "$LR" "127.0.0.1:$1" "127.0.0.1:$2" "$T/limit.log" & LP=$!; PIDS+=("$LP")
  wait_port "$1"
}

origuard_up() { # F U sync workers [tls [binary [policy [audit lines]]]]
  local f=$1 u=$2 sync=$3 w=$4 tls=${5:-} bin=${6:-$B} pol=${7:-$P} extra=${8:-}
  rm -f "$T"/audit-*.jsonl*
  serve_config "$T/o.toml" "$f" "$u" "$T/audit-$sync.jsonl" "$sync" "$pol" "$w" "$extra"
  if [ -n "$tls" ]; then cat >> "$T/o.toml" <<CFG
[link.switch_tls]
cert = "$T/certs/proxy.pem"
key = "$T/certs/proxy.key"
client_ca = "$T/certs/ca.pem"
[link.nlets_tls]
ca = "$T/certs/ca.pem"
server_name = "nlets.test"
cert = "$T/certs/proxy-client.pem"
key = "$T/certs/proxy-client.key"
CFG
  fi
  "$bin" serve --config "$T/o.toml" 2>"$T/serve.log" & OP=$!; PIDS+=("$OP")
  wait_port "$f"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$T/load"
for cap in photo mixed small; do
  # (a) no proxy: the checked generator, and --raw (counts and checksums).
  record "$cap" none max "$(bench "$cap" --target self --duration "${DUR}s" --connections "$CONNS")"
  record "$cap" none raw "$(bench "$cap" --target self --raw --duration "${DUR}s" --connections "$CONNS")"
  # (b) HAProxy.
  F=$(port); U=$(port); haproxy_up "$F" "$U"
  measured "$cap" haproxy max "$HP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --duration "${DUR}s" --connections "$CONNS"
  stop "$HP"
  # (b2) the limit relay.
  F=$(port); U=$(port); limit_up "$F" "$U"
  measured "$cap" limit max "$LP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --duration "${DUR}s" --connections "$CONNS"
  stop "$LP"
  # (c) origuard, audit batch and none, each decision_workers value.
  for w in $WORKERS; do for sync in batch none; do
    F=$(port); U=$(port); origuard_up "$F" "$U" "$sync" "$w"
    measured "$cap" "origuard-$sync-w$w" max "$OP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$P" --duration "${DUR}s" --connections "$CONNS"
    stop "$OP"
  done; done
  if [ -n "${BEFORE:-}" ]; then for sync in batch none; do
    w=${WORKERS%% *}
    F=$(port); U=$(port); origuard_up "$F" "$U" "$sync" "$w" "" "$BEFORE" "$BP" "${BEFORE_AUDIT:-}"
    measured "$cap" "before-$sync-w$w" max "$OP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$BP" --duration "${DUR}s" --connections "$CONNS"
    stop "$OP"
  done; fi
done

# One session (production links carry a few busy sessions): mixed capture,
# HAProxy and origuard with audit batch.
F=$(port); U=$(port); haproxy_up "$F" "$U"
measured mixed haproxy one "$HP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --duration "${DUR}s" --connections 1
stop "$HP"
F=$(port); U=$(port); limit_up "$F" "$U"
measured mixed limit one "$LP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --duration "${DUR}s" --connections 1
stop "$LP"
w=${WORKERS%% *}
F=$(port); U=$(port); origuard_up "$F" "$U" batch "$w"
measured mixed "origuard-batch-w$w" one "$OP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$P" --duration "${DUR}s" --connections 1
stop "$OP"
if [ -n "${BEFORE:-}" ]; then
  F=$(port); U=$(port); origuard_up "$F" "$U" batch "$w" "" "$BEFORE" "$BP" "${BEFORE_AUDIT:-}"
  measured mixed "before-batch-w$w" one "$OP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$BP" --duration "${DUR}s" --connections 1
  stop "$OP"
fi

# Latency at RATE msg/s, open loop, mixed capture.
record mixed none rate "$(bench mixed --target self --rate "$RATE" --duration "${DUR}s" --connections "$CONNS")"
F=$(port); U=$(port); haproxy_up "$F" "$U"
measured mixed haproxy rate "$HP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --rate "$RATE" --duration "${DUR}s" --connections "$CONNS"
stop "$HP"
F=$(port); U=$(port); limit_up "$F" "$U"
measured mixed limit rate "$LP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --rate "$RATE" --duration "${DUR}s" --connections "$CONNS"
stop "$LP"
for w in $WORKERS; do for sync in batch none; do
  F=$(port); U=$(port); origuard_up "$F" "$U" "$sync" "$w"
  measured mixed "origuard-$sync-w$w" rate "$OP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$P" --rate "$RATE" --duration "${DUR}s" --connections "$CONNS"
  stop "$OP"
done; done
if [ "${TLS:-0}" = 1 ]; then
  w=${WORKERS%% *}
  F=$(port); U=$(port); origuard_up "$F" "$U" batch "$w" tls
  measured mixed origuard-tls max "$OP" --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$P" --tls "$T/certs" --duration "${DUR}s" --connections "$CONNS"
  stop "$OP"
fi

# Median fdatasync of a 4 KiB append, on the directory the audit log uses.
FSYNC=$(fsync_probe)

# 1,000 concurrent sessions (audit batch), 10 s at 2,000 msg/s: peak RSS,
# and RSS 3 s after they closed.
w=${WORKERS%% *}
F=$(port); U=$(port); origuard_up "$F" "$U" batch "$w"
R=$(bench mixed --target "127.0.0.1:$F" --listen "127.0.0.1:$U" --policy "$P" --rate 2000 --duration 10s --connections 1000)
PEAK=$(hwm "$OP"); sleep 3; AFTER=$(rss "$OP")
record mixed origuard-1000-sessions rate "$R" 0 "$PEAK"
stop "$OP"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$T/load"

for cap in photo mixed small; do
  python3 -c 'import sys,struct
d=open(sys.argv[1],"rb").read(); i=n=0
while i+4<=len(d):
    l=struct.unpack(">I",d[i:i+4])[0]; i+=4+l; n+=1
print(sys.argv[2], n, len(d)//max(n,1))' "$T/$cap" "$cap"
done > "$T/sizes"
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$results" "$T/sizes" "$T/load" "$KEEP/"

python3 - "$results" "$FSYNC" "$AFTER" "$TCK" "$T/sizes" "$T/load" "$WORKERS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
fsync_us, after_kib, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sizes = {l.split()[0]: int(l.split()[2]) for l in open(sys.argv[5])}
load = open(sys.argv[6]).read().strip().replace("\n", "; ")
workers = sys.argv[7].split()
caps = ["photo", "mixed", "small"]
def get(cap, relay, mode="max"):
    return next((r for r in rows if r["capture"] == cap and r["relay"] == relay and r["mode"] == mode), None)
def cpu_us(r):
    arrived = r.get("passed", 0) + r.get("changed", 0)
    return r["cpu_ticks"] * 1e6 / tck / arrived if arrived and "cpu_ticks" in r else float("nan")
relays = ["none", "haproxy", "limit"] + [f"origuard-{s}-w{w}" for w in workers for s in ("batch", "none")]
relays += sorted({r["relay"] for r in rows if r["relay"].startswith("before-")})
print(f"captures (mean message): " + ", ".join(f"{c} {sizes[c]} B" for c in caps))
print(f"machine load (1/5/15 min): {load}")
print()
head = f"{'relay':<22}" + "".join(f"{c + ' ×HAProxy':>15}{'CPU µs/msg':>11}{'RSS MiB':>9}" for c in caps)
print(head)
for relay in relays:
    line = f"{relay:<22}"
    for c in caps:
        r, h = get(c, relay), get(c, "haproxy")
        ratio = r["msgs_per_sec"] / h["msgs_per_sec"] if r and h and h["msgs_per_sec"] else float("nan")
        cpu = cpu_us(r) if r else float("nan")
        rss = r.get("hwm_kib", 0) / 1024 if r else 0
        line += f"{ratio:>15.2f}{cpu:>11.2f}{rss:>9.1f}" if "hwm_kib" in (r or {}) else f"{ratio:>15.2f}{'—':>11}{'—':>9}"
    print(line)
line = f"{'bench --raw (none)':<22}"
for c in caps:
    r, h = get(c, "none", "raw"), get(c, "haproxy")
    line += f"{r['msgs_per_sec'] / h['msgs_per_sec']:>15.2f}{'—':>11}{'—':>9}" + ("" if r.get("checksum_ok") else " (checksum!)")
print(line)
print()
print("origuard ÷ limit relay (msg/s): " + "; ".join(
    f"{rl} " + " / ".join(
        f"{c} {get(c, rl)['msgs_per_sec'] / get(c, 'limit')['msgs_per_sec']:.2f}"
        for c in caps if get(c, rl) and get(c, "limit") and get(c, "limit")["msgs_per_sec"])
    for rl in relays if rl.startswith(("origuard", "before"))))
print()
print("absolute (msg/s): " + "; ".join(
    f"{c}: " + ", ".join(f"{rl} {get(c, rl)['msgs_per_sec']:.0f}" for rl in relays if get(c, rl)) for c in caps))
for w in workers:
    for c in caps:
        b, n = get(c, f"origuard-batch-w{w}"), get(c, f"origuard-none-w{w}")
        if b and n and n["msgs_per_sec"]:
            print(f"w{w} {c}: durable audit costs {100 * (1 - b['msgs_per_sec'] / n['msgs_per_sec']):.0f} % of throughput against audit none")
h1, o1 = get("mixed", "haproxy", "one"), get("mixed", f"origuard-batch-w{workers[0]}", "one")
l1 = get("mixed", "limit", "one")
if h1 and o1 and h1["msgs_per_sec"]:
    print(f"one session, mixed: origuard batch w{workers[0]} {o1['msgs_per_sec'] / h1['msgs_per_sec']:.2f} × HAProxy "
          f"({o1['msgs_per_sec']:.0f} vs {h1['msgs_per_sec']:.0f} msg/s), CPU {cpu_us(o1):.2f} µs/msg (HAProxy {cpu_us(h1):.2f})")
b1 = get("mixed", f"before-batch-w{workers[0]}", "one")
if h1 and b1 and h1["msgs_per_sec"]:
    print(f"one session, mixed: BEFORE batch w{workers[0]} {b1['msgs_per_sec'] / h1['msgs_per_sec']:.2f} × HAProxy, CPU {cpu_us(b1):.2f} µs/msg")
if h1 and l1 and o1 and l1["msgs_per_sec"]:
    print(f"one session, mixed: limit relay {l1['msgs_per_sec'] / h1['msgs_per_sec']:.2f} × HAProxy, CPU {cpu_us(l1):.2f} µs/msg; "
          f"origuard {o1['msgs_per_sec'] / l1['msgs_per_sec']:.2f} × the limit relay")
print()
n0, h0 = get("mixed", "none", "rate"), get("mixed", "haproxy", "rate")
print(f"latency, mixed capture, open loop at {n0['msgs_per_sec']:.0f} msg/s arrived (µs from intended send; added = over no proxy):")
print(f"{'relay':<22}{'p50':>8}{'p99':>8}{'added p50':>11}{'added p99':>11}{'×HAProxy p50':>14}{'×HAProxy p99':>14}")
ha50, ha99 = h0["p50_us"] - n0["p50_us"], h0["p99_us"] - n0["p99_us"]
for relay in relays:
    r = get("mixed", relay, "rate")
    if not r:
        continue
    a50, a99 = r["p50_us"] - n0["p50_us"], r["p99_us"] - n0["p99_us"]
    x50 = a50 / ha50 if ha50 > 0 else float("nan"); x99 = a99 / ha99 if ha99 > 0 else float("nan")
    print(f"{relay:<22}{r['p50_us']:>8.0f}{r['p99_us']:>8.0f}{a50:>11.0f}{a99:>11.0f}{x50:>14.2f}{x99:>14.2f}")
print(f"median fdatasync (4 KiB append, audit directory): {fsync_us} µs; HAProxy's added p50 + one fdatasync = {ha50 + fsync_us:.0f} µs")
tls = get("mixed", "origuard-tls")
if tls:
    print(f"origuard with mutual TLS, mixed: {tls['msgs_per_sec'] / get('mixed', 'haproxy')['msgs_per_sec']:.2f} × HAProxy")
s = get("mixed", "origuard-1000-sessions", "rate")
print(f"origuard with 1,000 sessions (mixed, 2,000 msg/s): peak RSS {s['hwm_kib'] / 1024:.1f} MiB, {after_kib / 1024:.1f} MiB 3 s after they closed")
lost = [(r["capture"], r["relay"], r["mode"], r["missing"], r["unexpected"], r.get("errors")) for r in rows if r["missing"] or r["unexpected"] or r.get("errors")]
print(f"runs with messages missing or unexpected, or errors: {lost if lost else 'none'}")
PY
