#!/usr/bin/env python3
"""Check origuard's published proofs from published material only.

An independent implementation (Python 3 standard library; no code shared
with origuard's Rust) of what a reader of the oversight reports needs:

  verify-consistency.py consistency PREVIOUS/report.json CURRENT/report.json [--public-key KEY]
      For every log whose signed checkpoint the previous report published,
      the current report must carry the RFC 9162 consistency proof from that
      checkpoint to its own: the log was only appended to in between.

  verify-consistency.py export EXPORT.json [--public-key KEY]
      An investigator's export (`origuard audit export`): every record's own
      hash, its inclusion proof against the checkpoint, and the counts per
      ORI, family and date.

KEY is the log's Ed25519 public key: 64 hex digits, or a file holding them
(as `origuard audit keygen` writes FILE.pub). With it every checkpoint's
signature is checked (RFC 8032, pure Python below); without it the script
says the signatures were not checked. Exit 0: everything checks; 1: a check
failed (each failure printed); 2: bad input.
"""

import hashlib
import json
import sys

# ---------------------------------------------------------------- Merkle tree
# RFC 6962 / 9162: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || l || r).
# A leaf's data is the 32 bytes of the record's own hash.


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf(record_hash):
    return hashlib.sha256(b"\x00" + record_hash).digest()


def verify_consistency(m, n, old_root, new_root, proof):
    """RFC 9162, 2.1.4.2."""
    if m > n:
        return False
    if m == 0:
        return not proof
    if m == n:
        return not proof and old_root == new_root
    path = list(proof)
    if m & (m - 1) == 0:  # a power of two
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def verify_inclusion(index, size, leaf_hash, path, root):
    """RFC 9162, 2.1.3.2."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ------------------------------------------------------------------ Ed25519
# RFC 8032, section 6 (verification only).

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f, g * h, f * g, e * h)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 % P == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
G = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decompress(public)
    r = _decompress(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % Q
    return _equal(_mul(s, G), _add(r, _mul(h, a)))


# -------------------------------------------------------------- checkpoints


def signed_bytes(cp):
    """specs/audit.md, Checkpoints: five LF-ended lines."""
    return "origuard-checkpoint-v1\n{}\n{}\n{}\n{}\n".format(
        cp["log_id"], cp["tree_size"], cp["root"], cp["time"]
    ).encode("ascii")


class Checks:
    def __init__(self, public_key):
        self.public_key = public_key
        self.failures = 0

    def fail(self, what):
        self.failures += 1
        print("FAILED: " + what)

    def checkpoint(self, cp, what):
        """The checkpoint's signature, when a key was given."""
        if self.public_key is None:
            return
        if cp.get("signature") is None:
            self.fail("{}: the checkpoint is not signed".format(what))
            return
        kid = hashlib.sha256(self.public_key).hexdigest()
        if cp.get("key_id") not in (None, kid):
            self.fail("{}: signed by key {}, not by the given key {}".format(what, cp["key_id"], kid))
            return
        try:
            sig = bytes.fromhex(cp["signature"])
        except ValueError:
            self.fail("{}: the signature is not hex".format(what))
            return
        if not ed25519_verify(self.public_key, signed_bytes(cp), sig):
            self.fail("{}: the signature does not verify".format(what))


def unhex32(x):
    b = bytes.fromhex(x)
    if len(b) != 32:
        raise ValueError("not 32 bytes")
    return b


def own_hash(line):
    """A record's hash: SHA-256 of the line up to ,"hash": with } appended."""
    raw = line.encode("utf-8")
    at = raw.rfind(b',"hash":"')
    if at < 0:
        return None
    return hashlib.sha256(raw[:at] + b"}").hexdigest()


# ------------------------------------------------------------------ commands


def consistency(prev_path, cur_path, checks):
    prev = json.load(open(prev_path, encoding="utf-8"))
    cur = json.load(open(cur_path, encoding="utf-8"))
    published = {l["log_id"]: l.get("last_checkpoint") for l in cur.get("logs", [])}
    proofs = {c["log_id"]: c for c in cur.get("consistency", [])}
    logs = 0
    for log in prev.get("logs", []):
        old = log.get("last_checkpoint")
        if old is None:
            continue
        logs += 1
        lid = old["log_id"]
        c = proofs.get(lid)
        if c is None:
            checks.fail("log {}: the current report carries no consistency proof from the previous checkpoint".format(lid))
            continue
        if c["previous"] != old:
            checks.fail("log {}: the proof starts from another checkpoint than the previous report published".format(lid))
            continue
        new = published.get(lid)
        if new is None or c.get("current") != new:
            checks.fail("log {}: the proof ends at another checkpoint than this report publishes".format(lid))
            continue
        checks.checkpoint(old, "log {} previous checkpoint".format(lid))
        checks.checkpoint(new, "log {} current checkpoint".format(lid))
        try:
            proof = [unhex32(h) for h in c.get("proof", [])]
            ok = verify_consistency(
                old["tree_size"], new["tree_size"], unhex32(old["root"]), unhex32(new["root"]), proof
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            checks.fail("log {}: the consistency proof from size {} to {} does not verify".format(
                lid, old["tree_size"], new["tree_size"]))
            continue
        print("log {}: only appended to, records {} -> {} ({} proof hashes)".format(
            lid, old["tree_size"], new["tree_size"], len(proof)))
    if logs == 0:
        checks.fail("the previous report publishes no checkpoint")


def export(path, checks):
    x = json.load(open(path, encoding="utf-8"))
    if x.get("format") != "origuard-export-v1":
        checks.fail("not an origuard-export-v1 file")
        return
    cp = x["checkpoint"]
    checks.checkpoint(cp, "export checkpoint")
    root, size = unhex32(cp["root"]), cp["tree_size"]
    counts = {}
    for e in x["decisions"]:
        seq = e["seq"]
        try:
            rec = json.loads(e["record"])
        except ValueError:
            checks.fail("record {}: not JSON".format(seq))
            continue
        h = own_hash(e["record"])
        if h is None or h != rec.get("hash"):
            checks.fail("record {}: the line does not match its own hash".format(seq))
            continue
        if rec.get("seq") != seq or rec.get("kind") != "decision":
            checks.fail("record {}: not decision record {}".format(seq, seq))
            continue
        facts = (rec.get("counterparty_ori") or "unknown", rec.get("list") or "none", rec["ts"][:10])
        if facts != (e["ori"], e["list"], e["date"]):
            checks.fail("record {}: the export says {} but the record says {}".format(
                seq, (e["ori"], e["list"], e["date"]), facts))
            continue
        try:
            path_ = [unhex32(p) for p in e["audit_path"]]
            ok = verify_inclusion(seq, size, leaf(unhex32(h)), path_, root)
        except ValueError:
            ok = False
        if not ok:
            checks.fail("record {}: its inclusion proof does not lead to the checkpoint's root".format(seq))
            continue
        counts[facts] = counts.get(facts, 0) + 1
    listed = {(c["ori"], c["list"], c["date"]): c["decisions"] for c in x["counts"]}
    if listed != counts:
        checks.fail("the counts per ORI, family and date are not those of the proven decisions")
    print("export of log {}: {} decisions proven against checkpoint of size {}".format(
        x["log_id"], sum(counts.values()), size))


def main(argv):
    args = list(argv[1:])
    key = None
    if "--public-key" in args:
        i = args.index("--public-key")
        if i + 1 >= len(args):
            print(__doc__)
            return 2
        k = args[i + 1]
        del args[i:i + 2]
        try:
            text = k if len(k) == 64 else open(k, encoding="ascii").read().strip()
            key = bytes.fromhex(text)
            if len(key) != 32:
                raise ValueError
        except (OSError, ValueError):
            print("--public-key {}: not 64 hex digits or a file holding them".format(k))
            return 2
    checks = Checks(key)
    try:
        if len(args) == 3 and args[0] == "consistency":
            consistency(args[1], args[2], checks)
        elif len(args) == 2 and args[0] == "export":
            export(args[1], checks)
        else:
            print(__doc__)
            return 2
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("cannot read the input: {}".format(e))
        return 2
    if key is None:
        print("signatures NOT checked (give --public-key)")
    if checks.failures:
        print("{} check(s) failed".format(checks.failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
