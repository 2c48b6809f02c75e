//! `origuard audit verify | keygen | prove | verify-proof` (specs/audit.md);
//! `audit export` is [`super::audit_export`].
//!
//! `verify` streams every file of a log through one [`Chain`] (chain,
//! segment continuity, Merkle tree, checkpoint roots and signatures, a saved
//! checkpoint); `prove` computes an inclusion proof in a second streaming
//! pass; `verify-proof` checks one without the log. Finding and ordering a
//! log's files is [`crate::tools::audit_files`].

use crate::audit::checkpoint::{parse_public_key, Checkpoint};
use crate::audit::merkle::{leaf_hash, verify_inclusion, Hash, PathBuilder};
use crate::audit::verify::{verify_file, Broken, Chain, ChainOptions, SavedCheck, StreamError};
use crate::tools::audit_files::whole_log;
pub use crate::tools::audit_files::{audit_files, log_files, looks_like_audit, LogFiles};
use crate::tools::cli::AuditCommand;
use crate::tools::common::{print_line, EX_INPUT};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The first two lines of a file (at most 128 KiB read).
fn first_two_lines(p: &Path) -> Vec<serde_json::Value> {
    let mut head = Vec::new();
    let _ = std::fs::File::open(p).and_then(|f| f.take(128 << 10).read_to_end(&mut head));
    head.split(|&b| b == b'\n')
        .take(2)
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// Among several logs, those that start (`log_start`) after the earliest
/// one without a recorded reason — their record 1 is not a `file_event`
/// (`kept_aside` names why a new log began): (log id, its first file, the
/// earliest log's id). Empty with one log.
fn unexplained_new_logs(logs: &[LogFiles]) -> Vec<(String, PathBuf, String)> {
    let starts: Vec<(&LogFiles, &PathBuf, String, bool)> = logs
        .iter()
        .filter_map(|l| {
            let (file, _) = l.files.iter().find(|(_, first)| *first == 0)?;
            let lines = first_two_lines(file);
            let ts = lines.first()?.get("ts")?.as_str()?.to_string();
            let explained = lines
                .get(1)
                .is_some_and(|r| r.get("kind").and_then(|k| k.as_str()) == Some("file_event"));
            Some((l, file, ts, explained))
        })
        .collect();
    let Some(earliest) = starts.iter().min_by(|a, b| a.2.cmp(&b.2)) else {
        return vec![];
    };
    starts
        .iter()
        .filter(|s| !s.3 && s.0.log_id != earliest.0.log_id)
        .map(|s| (s.0.log_id.clone(), s.1.clone(), earliest.0.log_id.clone()))
        .collect()
}

/// A log as verified.
struct Outcome {
    chain: Chain,
    /// The file and problem where it broke.
    broken: Option<(PathBuf, Broken)>,
    /// Seq of the record whose hash is the expected head.
    found_at: Option<u64>,
}

fn run_chain(
    log: &LogFiles,
    opts: ChainOptions,
    want: Option<&str>,
) -> Result<Outcome, (PathBuf, String)> {
    let mut chain = Chain::new(opts);
    let mut found_at = None;
    let want: Option<Hash> = want.and_then(|h| {
        let mut b = [0u8; 32];
        hex::decode_to_slice(h, &mut b).ok().map(|_| b)
    });
    for (path, _) in &log.files {
        let f = std::fs::File::open(path).map_err(|e| (path.clone(), e.to_string()))?;
        match verify_file(&mut chain, f, |g, _| {
            if want == Some(g.hash) {
                found_at = Some(g.seq);
            }
        }) {
            Ok(_) => {}
            Err(StreamError::Broken(b)) => {
                return Ok(Outcome {
                    chain,
                    broken: Some((path.clone(), b)),
                    found_at,
                })
            }
            Err(StreamError::Io(e)) => return Err((path.clone(), e.to_string())),
        }
    }
    Ok(Outcome {
        chain,
        broken: None,
        found_at,
    })
}

fn read_public_key(path: &str) -> Result<Vec<u8>, String> {
    let d = std::fs::read(path).map_err(|e| format!("public key {path}: cannot read: {e}"))?;
    parse_public_key(&d).ok_or_else(|| {
        format!("public key {path}: not an Ed25519 public key (64 hex digits, 32 raw bytes or PEM)")
    })
}

fn read_checkpoint(path: &str) -> Result<Checkpoint, String> {
    let d = std::fs::read(path).map_err(|e| format!("checkpoint {path}: cannot read: {e}"))?;
    // A checkpoint file holds one line; a history, many: take the last.
    let last = d
        .split(|&b| b == b'\n')
        .rfind(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(&[]);
    serde_json::from_slice(last).map_err(|e| format!("checkpoint {path}: not a checkpoint: {e}"))
}

/// What `verify` found, for the text line and the JSON.
struct Report {
    code: u8,
    text: String,
    json: serde_json::Value,
}

fn name_of(paths: &[String], log: &LogFiles) -> String {
    if log.files.len() == 1 {
        log.files[0].0.display().to_string()
    } else {
        paths.join(" ")
    }
}

/// Verifies one log: exit code, text, JSON.
fn verify_log(
    name: &str,
    log: &LogFiles,
    expect_head: Option<&str>,
    public_key: Option<&[u8]>,
    saved: Option<&Checkpoint>,
) -> Report {
    let want = expect_head.map(|h| h.trim().to_ascii_lowercase());
    let opts = ChainOptions {
        public_key: public_key.map(<[u8]>::to_vec),
        saved: saved.cloned(),
    };
    let out = match run_chain(log, opts, want.as_deref()) {
        Ok(o) => o,
        Err((p, e)) => {
            let text = format!("{}: cannot read: {e}", p.display());
            return Report {
                code: EX_INPUT,
                json: serde_json::json!({ "file": name, "ok": false, "exit_code": EX_INPUT, "message": text }),
                text,
            };
        }
    };
    let v = out.chain.verified();
    let one = log.files.len() == 1;
    let first_seq = log.files.first().map_or(0, |f| f.1);
    let (mut code, mut text) = match &out.broken {
        Some((p, b)) => (
            1,
            format!(
                "{}: BROKEN at record {} (line {}): {}",
                p.display(),
                b.seq,
                b.line,
                b.what
            ),
        ),
        None => (0, intact_text(name, one, first_seq, &v, &out.chain)),
    };
    let saved_check = out.chain.saved();
    if code == 0 {
        if let Err(t) = later_checks(
            name,
            &want,
            &out,
            &v,
            saved,
            &saved_check,
            public_key,
            &mut text,
        ) {
            code = 1;
            text = t;
        }
    }
    let json = serde_json::json!({
        "file": name,
        "files": log.files.iter().map(|f| f.0.display().to_string()).collect::<Vec<_>>(),
        "ok": code == 0,
        "intact": out.broken.is_none(),
        "exit_code": code,
        "message": text,
        "first_seq": first_seq,
        "next_seq": v.count,
        "head": v.head,
        "log_id": v.log_id,
        "root": v.root,
        "continues": v.segment.as_ref().filter(|_| one).map(|s| serde_json::json!({ "reason": s.reason, "prev": s.prev })),
        "checkpoints": out.chain.checkpoints(),
        "last_checkpoint": out.chain.last_checkpoint(),
        "signatures_checked": public_key.is_some(),
        "expect_head": expect_head,
        "saved_checkpoint": saved.map(|s| serde_json::json!({ "tree_size": s.tree_size, "root": s.root, "result": saved_name(&saved_check) })),
        "broken": out.broken.as_ref().map(|(p, b)| serde_json::json!({ "file": p.display().to_string(), "seq": b.seq, "line": b.line, "what": b.what, "torn_tail": b.torn_tail })),
    });
    Report { code, text, json }
}

/// After an intact chain: the expected head (`--expect-head`) and the
/// saved checkpoint (`--checkpoint`); what to add to the text, or why not.
#[allow(clippy::too_many_arguments)] // each is one input of the checks
fn later_checks(
    name: &str,
    want: &Option<String>,
    out: &Outcome,
    v: &crate::audit::verify::Verified,
    saved: Option<&Checkpoint>,
    saved_check: &SavedCheck,
    public_key: Option<&[u8]>,
    text: &mut String,
) -> Result<(), String> {
    if let Some(w) = want {
        match out.found_at {
            Some(seq) if seq + 1 == v.count => text.push_str("; head matches"),
            Some(seq) => text.push_str(&format!(
                "; expected head is record {seq}, {} records appended since",
                v.count - 1 - seq
            )),
            None => {
                return Err(format!(
                    "{name}: head {} and no record has the expected head {w}: records were removed from the end, or the log was replaced",
                    v.head
                ))
            }
        }
    }
    if let Some(s) = saved {
        text.push_str(&saved_text(name, s, saved_check, public_key, v)?);
    }
    Ok(())
}

fn saved_name(s: &SavedCheck) -> &'static str {
    match s {
        SavedCheck::None => "none",
        SavedCheck::NotReached => "not_reached",
        SavedCheck::Unknown => "unknown",
        SavedCheck::OtherLog { .. } => "other_log",
        SavedCheck::Matches => "matches",
        SavedCheck::Differs { .. } => "differs",
    }
}

fn intact_text(
    name: &str,
    one: bool,
    first_seq: u64,
    v: &crate::audit::verify::Verified,
    chain: &Chain,
) -> String {
    let mut t = match (&v.segment, one) {
        (None, true) => format!(
            "{name}: intact, {} records, head {}, log id {}",
            v.count, v.head, v.log_id
        ),
        (Some(h), true) => format!(
            "{name}: intact, records {}..{} (this file continues log {} after \"{}\"; verify the file before it for the whole chain), head {}",
            v.first_seq,
            v.count.saturating_sub(1),
            v.log_id,
            h.reason,
            v.head
        ),
        (_, false) => format!(
            "{name}: intact, records {first_seq}..{} in {} files{}, head {}, log id {}",
            v.count.saturating_sub(1),
            chain.files(),
            if first_seq > 0 {
                " (earlier segments not given)"
            } else {
                ""
            },
            v.head,
            v.log_id
        ),
    };
    if let Some(c) = chain.last_checkpoint() {
        t.push_str(&format!(
            "; {} checkpoints, the last at size {} (root {}, {})",
            chain.checkpoints(),
            c.tree_size,
            c.root,
            if chain.checks_signatures() {
                "signatures verified"
            } else if c.signature.is_some() {
                "signed; give --public-key to check"
            } else {
                "unsigned"
            }
        ));
    }
    t
}

fn saved_text(
    name: &str,
    s: &Checkpoint,
    check: &SavedCheck,
    public_key: Option<&[u8]>,
    v: &crate::audit::verify::Verified,
) -> Result<String, String> {
    if let Some(pk) = public_key {
        s.check_signature(pk)
            .map_err(|e| format!("{name}: the saved checkpoint: {e}"))?;
    }
    match check {
        SavedCheck::Matches => Ok(format!(
            "; consistent with the saved checkpoint at size {} (root {})",
            s.tree_size, s.root
        )),
        SavedCheck::Differs { root } => Err(format!(
            "{name}: REWRITTEN: the saved checkpoint at size {} has root {}, but the log's records 0..{} give root {root}: records up to there were altered, removed or replaced",
            s.tree_size, s.root, s.tree_size.saturating_sub(1)
        )),
        SavedCheck::NotReached => Err(format!(
            "{name}: the log ends before record {} (it has {} records), before the saved checkpoint's size {}: records were removed from the end, or the log was replaced",
            v.count, v.count, s.tree_size
        )),
        SavedCheck::OtherLog { log_id } => Err(format!(
            "{name}: the saved checkpoint is for log {}, these files are log {log_id}: the log was replaced",
            s.log_id
        )),
        SavedCheck::Unknown => Err(format!(
            "{name}: cannot check the saved checkpoint at size {}: the files given start after it; give the earlier segments too",
            s.tree_size
        )),
        SavedCheck::None => Ok(String::new()),
    }
}

/// An inclusion proof, as `audit prove` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// The log's id.
    pub log_id: String,
    /// The record's leaf index (its `seq`).
    pub leaf_index: u64,
    /// The record line itself (without its LF).
    pub record: String,
    /// `SHA-256(0x00 || record hash)` (hex).
    pub leaf_hash: String,
    /// The tree size the proof is against (the checkpoint's).
    pub tree_size: u64,
    /// The root (the checkpoint's).
    pub root: String,
    /// Sibling hashes from the leaf up (hex).
    pub audit_path: Vec<String>,
    /// The checkpoint, signed.
    pub checkpoint: Checkpoint,
}

fn prove(seq: u64, paths: &[String]) -> Result<Proof, (u8, String)> {
    let log = whole_log(paths, "give one log's files")?;
    let out = run_chain(&log, ChainOptions::default(), None)
        .map_err(|(p, e)| (EX_INPUT, format!("{}: cannot read: {e}", p.display())))?;
    if let Some((p, b)) = out.broken {
        return Err((
            1,
            format!(
                "{}: BROKEN at record {} (line {}): {}; no proof from a broken log",
                p.display(),
                b.seq,
                b.line,
                b.what
            ),
        ));
    }
    let Some(cp) = out.chain.last_checkpoint().cloned() else {
        return Err((
            1,
            "the log has no checkpoint yet: nothing to prove against".into(),
        ));
    };
    if seq >= cp.tree_size {
        return Err((1, format!("record {seq} is not covered by the latest checkpoint yet (it covers records 0..{})", cp.tree_size.saturating_sub(1))));
    }
    // Second pass: the leaves, for the path; the record's line.
    let mut b = PathBuilder::new(seq, cp.tree_size);
    let mut chain = Chain::new(ChainOptions::default());
    let mut record = None;
    for (path, _) in &log.files {
        let f = std::fs::File::open(path)
            .map_err(|e| (EX_INPUT, format!("{}: cannot read: {e}", path.display())))?;
        verify_file(&mut chain, f, |g, line| {
            if g.seq < cp.tree_size {
                b.feed(g.seq, leaf_hash(&g.hash));
            }
            if g.seq == seq {
                record = Some(String::from_utf8_lossy(line).into_owned());
            }
        })
        .map_err(|e| (1, format!("{}: {e}", path.display())))?;
    }
    let (Some((leaf, path)), Some(record)) = (b.finish(), record) else {
        return Err((1, "the log changed while it was read; try again".into()));
    };
    Ok(Proof {
        log_id: cp.log_id.clone(),
        leaf_index: seq,
        record,
        leaf_hash: hex::encode(leaf),
        tree_size: cp.tree_size,
        root: cp.root.clone(),
        audit_path: path.iter().map(hex::encode).collect(),
        checkpoint: cp,
    })
}

/// Checks a proof: the record's own hash, its seq, the path to the root,
/// the root and size being the checkpoint's, and (with a key) the signature.
pub fn check_proof(p: &Proof, public_key: Option<&[u8]>) -> Result<String, String> {
    let line = p.record.as_bytes();
    let bad = |w: &str| format!("proof of record {} REFUSED: {w}", p.leaf_index);
    let hash = crate::audit::verify::own_hash(line)
        .ok_or_else(|| bad("the record does not match its own hash"))?;
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    let s: Seq = serde_json::from_slice(line).map_err(|_| bad("the record does not parse"))?;
    if s.seq != p.leaf_index {
        return Err(bad("the record's seq is not the leaf index"));
    }
    let leaf = leaf_hash(&hash);
    if hex::encode(leaf) != p.leaf_hash {
        return Err(bad("the leaf hash is not the record's"));
    }
    let unhex = |x: &str| -> Option<Hash> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(x, &mut b).ok().map(|_| b)
    };
    let path: Option<Vec<Hash>> = p.audit_path.iter().map(|x| unhex(x)).collect();
    let (Some(path), Some(root)) = (path, unhex(&p.root)) else {
        return Err(bad("a hash in the proof is not 64 hex digits"));
    };
    if p.tree_size != p.checkpoint.tree_size
        || p.root != p.checkpoint.root
        || p.log_id != p.checkpoint.log_id
    {
        return Err(bad("the tree size, root or log id is not the checkpoint's"));
    }
    if !verify_inclusion(p.leaf_index, p.tree_size, &leaf, &path, &root) {
        return Err(bad("the audit path does not lead to the root"));
    }
    let signed = match public_key {
        Some(pk) => {
            p.checkpoint
                .check_signature(pk)
                .map_err(|e| bad(&e.to_string()))?;
            "signature verified"
        }
        None if p.checkpoint.signature.is_some() => {
            "signed; give --public-key to check the signature"
        }
        None => "unsigned checkpoint",
    };
    Ok(format!(
        "record {} is in log {} at tree size {}, root {} (checkpoint of {}: {signed})",
        p.leaf_index, p.log_id, p.tree_size, p.root, p.checkpoint.time
    ))
}

/// Writes a new Ed25519 signing key (PKCS#8, mode 0600) to `out` and its
/// public key (hex) to `out.pub`; returns the public key.
pub(crate) fn keygen(out: &str) -> Result<String, String> {
    use ring::signature::KeyPair;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| "no randomness from the operating system".to_string())?;
    let key =
        crate::audit::checkpoint::load_signing_key(doc.as_ref()).map_err(|e| e.to_string())?;
    let public = hex::encode(key.public_key().as_ref());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| format!("{out}: {e} (a key file is never overwritten)"))?;
    f.write_all(doc.as_ref())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{out}: {e}"))?;
    let pub_file = format!("{out}.pub");
    std::fs::write(&pub_file, format!("{public}\n")).map_err(|e| format!("{pub_file}: {e}"))?;
    Ok(public)
}

/// `origuard audit ...`.
pub fn command(c: AuditCommand) -> u8 {
    match c {
        AuditCommand::Verify {
            paths,
            expect_head,
            checkpoint,
            public_key,
            json,
        } => verify_cmd(
            &paths,
            expect_head.as_deref(),
            checkpoint.as_deref(),
            public_key.as_deref(),
            json,
        ),
        AuditCommand::Keygen { out } => match keygen(&out) {
            Ok(public) => {
                let code = print_line(&public, "audit keygen");
                eprintln!("wrote {out} (Ed25519, PKCS#8, mode 0600) and {out}.pub; the public key is above: give it to the witness and to `audit verify --public-key`");
                code
            }
            Err(e) => {
                eprintln!("origuard audit keygen: {e}");
                1
            }
        },
        AuditCommand::Prove { seq, audit } => match prove(seq, &audit) {
            Ok(p) => print_line(
                &serde_json::to_string_pretty(&p).unwrap_or_default(),
                "audit prove",
            ),
            Err((code, e)) => {
                eprintln!("origuard audit prove: {e}");
                code
            }
        },
        AuditCommand::Export {
            audit,
            ori,
            list,
            from,
            to,
            out,
        } => super::audit_export::command(
            &audit,
            &super::audit_export::Filter {
                ori,
                list,
                from,
                to,
            },
            out.as_deref(),
        ),
        AuditCommand::VerifyProof { file, public_key } => {
            verify_proof_cmd(&file, public_key.as_deref())
        }
    }
}

/// `audit verify-proof FILE`: checks a proof without the log.
fn verify_proof_cmd(file: &str, public_key: Option<&str>) -> u8 {
    let pk = match public_key.map(read_public_key).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("origuard audit verify-proof: {e}");
            return EX_INPUT;
        }
    };
    let data = if file == "-" {
        let mut d = Vec::new();
        std::io::stdin().read_to_end(&mut d).map(|_| d)
    } else {
        std::fs::read(file)
    };
    let proof: Proof = match data
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| format!("not a proof: {e}")))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("origuard audit verify-proof: {file}: {e}");
            return EX_INPUT;
        }
    };
    match check_proof(&proof, pk.as_deref()) {
        Ok(t) => print_line(&t, "audit verify-proof"),
        Err(t) => {
            eprintln!("{t}");
            1
        }
    }
}

fn verify_cmd(
    paths: &[String],
    expect_head: Option<&str>,
    checkpoint: Option<&str>,
    public_key: Option<&str>,
    json: bool,
) -> u8 {
    let fail = |text: String| {
        if json {
            print_line(
                &serde_json::json!({ "file": paths.join(" "), "ok": false, "exit_code": EX_INPUT, "message": text }).to_string(),
                "audit verify",
            );
        } else {
            eprintln!("{text}");
        }
        EX_INPUT
    };
    let pk = match public_key.map(read_public_key).transpose() {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let saved = match checkpoint.map(read_checkpoint).transpose() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let files = match audit_files(paths) {
        Ok(f) => f,
        Err(e) if paths.len() == 1 => {
            return fail(e.to_string().replace(
                ": no such file or directory",
                ": cannot read: No such file or directory (os error 2)",
            ))
        }
        Err(e) => return fail(e),
    };
    let logs = log_files(files);
    let mut code = 0;
    for (id, file, first) in unexplained_new_logs(&logs) {
        // A rotation or a restart continues the log; a second log beside it
        // with no recorded reason means a chain was cut (specs/audit.md,
        // *Crash safety*).
        let text = format!(
            "{}: NEW LOG WITHOUT A REASON: {} starts log {id}, begun after log {first} with no file_event saying why: the chain of {first} was cut (a stop during rotation by a version without crash-safe rotation, or a log replaced); investigate before trusting either",
            paths.join(" "),
            file.display(),
        );
        code = 1;
        if json {
            print_line(
                &serde_json::json!({ "file": file.display().to_string(), "log_id": id, "ok": false, "exit_code": 1, "message": text }).to_string(),
                "audit verify",
            );
        } else {
            eprintln!("{text}");
        }
    }
    for log in &logs {
        let r = verify_log(
            &name_of(paths, log),
            log,
            expect_head,
            pk.as_deref(),
            saved.as_ref(),
        );
        code = code.max(r.code);
        if json {
            code = code.max(print_line(&r.json.to_string(), "audit verify"));
        } else if r.code == 0 {
            code = code.max(print_line(&r.text, "audit verify"));
        } else {
            eprintln!("{}", r.text);
        }
    }
    code
}
