# Shared by the load scripts in benches/ (sourced, not run): the release
# binaries, the example policy, a scratch directory removed on exit with
# every process started through PIDS, and small helpers.
#   B, LR   origuard and the limit relay (built here, release)
#   P, BP   the example policy; BEFORE_POLICY (default P) for a BEFORE binary
#   T       scratch directory;  PIDS  processes killed on exit
#   port, wait_port PORT, stop PID, fsync_probe (median fdatasync of a 4 KiB
#   append in T, µs)
# Installs haproxy from Debian packages if missing. Loopback only.
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }
cargo build --release --quiet --bin origuard --example limit_relay
B=$PWD/target/release/origuard
LR=$PWD/target/release/examples/limit_relay
P=$PWD/deploy/policy/colorado.toml
BP=${BEFORE_POLICY:-$P}
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; return 1; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
fsync_probe() {
  python3 - "$T" <<'PY'
import os, sys, time, statistics
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
ts = []
for _ in range(200):
    os.write(fd, b"x" * 4096)
    t = time.perf_counter(); os.fdatasync(fd); ts.append(time.perf_counter() - t)
os.close(fd); os.unlink(p)
print(f"{statistics.median(ts) * 1e6:.0f}")
PY
}
