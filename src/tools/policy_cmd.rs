//! `origuard policy check|explain|diff` (text; `--json` through
//! [`super::policy_json`]).

use super::policy_json as pj;
use crate::message::Direction;
use crate::policy::entry::Kind;
use crate::policy::explain::explain;
use crate::policy::file::Refused;
use crate::policy::{diff, Policy};
use crate::runtime::policy_store::load_path;
use std::fmt::Write;

/// Output and exit code of a policy command.
pub struct Outcome {
    /// Exit code: 0 ok, 1 policy invalid (or explain of an invalid policy),
    /// 2 a file that cannot be read, 64 bad usage.
    pub code: u8,
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr (diagnostics).
    pub stderr: String,
}

/// The diagnostics of a refused policy on stderr, and with `json` the same
/// as one object on stdout.
fn refused_as(path: &str, r: &Refused, json: bool) -> Outcome {
    let mut o = refused(path, r);
    if json {
        o.stdout = pj::line(&pj::refused(path, r));
    }
    o
}

fn refused(path: &str, r: &Refused) -> Outcome {
    let mut err = String::new();
    for d in r.errors.iter().chain(&r.warnings) {
        let _ = writeln!(err, "{d}");
    }
    let _ = writeln!(
        err,
        "{path}: refused: {} error(s), {} warning(s)",
        r.errors.len(),
        r.warnings.len()
    );
    Outcome {
        code: 1,
        stdout: String::new(),
        stderr: err,
    }
}

/// `Err` (exit 2) when a policy file cannot be read at all: a missing file
/// is an input error, not an invalid policy.
fn unreadable(path: &str) -> Result<(), Outcome> {
    super::common::readable(path).map_err(|e| Outcome {
        code: super::common::EX_INPUT,
        stdout: String::new(),
        stderr: format!("{e}\n"),
    })
}

/// A summary of a valid policy.
// Long: one report written top to bottom, a few lines per part of the policy.
pub fn summary(p: &Policy) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: valid, version {} ({})",
        p.source,
        p.short_version(),
        p.version
    );
    let _ = writeln!(
        out,
        "default {}, on_parse_error {}, on_unknown_ori {}",
        p.default,
        p.on_parse_error.name(),
        p.on_unknown_ori.name()
    );
    let fields: Vec<&str> = p
        .redact_fields
        .iter()
        .map(|f| p.catalogue.name(f))
        .collect();
    let ex = |k: crate::policy::KeySet| {
        let v: Vec<&str> = k.keys().collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    let _ = writeln!(
        out,
        "redact projects every message to a redact-listed agency onto its release profile, then removes {}; exempt keys: {}",
        fields.join(", "),
        ex(p.redact_exempt)
    );
    if !p.redact_origins.is_empty() {
        let _ = writeln!(
            out,
            "messages to restricted agencies must come from: {}",
            p.redact_origins.join(" ")
        );
    }
    for pr in &p.profiles {
        let _ = writeln!(
            out,
            "profile {}: releases {}; {} legacy labels, {} literal lines, {} XML elements",
            pr.name,
            pr.keys.keys().collect::<Vec<_>>().join(" "),
            pr.legacy.fields.len(),
            pr.legacy.lines.len() + pr.legacy.trailers.len(),
            pr.xml.nodes.len().saturating_sub(1)
        );
    }
    let _ = writeln!(
        out,
        "deny covers every key (exempt: {}); inbound query -> {}, outbound response -> {}, replies from {}",
        ex(p.deny_exempt),
        p.deny_inbound_query.name(),
        p.deny_outbound_response.name(),
        p.reply_ori.map_or("(none)".to_string(), |o| o.to_string())
    );
    let _ = writeln!(
        out,
        "{:<28} {:<7} {:>7} {:>7} {:>8}  profile",
        "list", "action", "exact", "member", "pattern"
    );
    for (i, l) in p.lists.iter().enumerate() {
        let count = |k: Kind| {
            p.entries
                .iter()
                .filter(|e| e.list as usize == i && e.entry.kind == k)
                .count()
        };
        let _ = writeln!(
            out,
            "{:<28} {:<7} {:>7} {:>7} {:>8}  {}",
            l.name,
            l.action.name(),
            count(Kind::Exact),
            count(Kind::Member),
            count(Kind::Pattern),
            if l.action == crate::policy::Action::Redact {
                p.profiles[l.profile].name.as_str()
            } else {
                "-"
            }
        );
    }
    out.push_str(&crate::policy::legal::summary(p));
    for s in &p.order_seals {
        let by: Vec<String> = s
            .approvers
            .iter()
            .map(|a| format!("{} ({})", a.principal, a.key))
            .collect();
        let _ = writeln!(
            out,
            "signed order {} ({}): entered by {}, approved by {}",
            s.id,
            s.file,
            s.entered_by,
            by.join(", ")
        );
    }
    out
}

/// `policy manifest FILE --author P --reason R`: writes `FILE.manifest`
/// for the policy as it is now (it must be valid).
pub fn manifest(
    path: &str,
    author: &str,
    reason: &str,
    signing: Option<&crate::policy::orders::Signing>,
) -> Outcome {
    use crate::policy::bundle::{key_of, manifest_path, sha256_hex, RawManifest};
    if let Err(o) = unreadable(path) {
        return o;
    }
    let fail = |code: u8, m: String| Outcome {
        code,
        stdout: String::new(),
        stderr: format!("{m}\n"),
    };
    if author.trim().is_empty() || reason.trim().is_empty() {
        return fail(64, "--author and --reason must not be empty".into());
    }
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    let loaded = crate::policy::file::load_signed(
        path,
        &mut |p: &str| {
            let r = crate::runtime::policy_store::read_fs(p);
            if let Ok(b) = &r {
                seen.push((p.to_string(), b.clone()));
            }
            r
        },
        std::time::SystemTime::now(),
        signing,
    );
    if let Err(r) = loaded {
        return refused(path, &r);
    }
    let skip = signing.map(|s| s.allowed_signers.as_str());
    let files = seen
        .into_iter()
        .filter(|(p, _)| Some(p.as_str()) != skip && !std::path::Path::new(p).is_dir())
        .map(|(p, b)| (key_of(path, &p), sha256_hex(&b)))
        .collect();
    let mpath = manifest_path(path);
    let (version, previous) = match std::fs::read(&mpath) {
        Ok(old) => match toml::from_str::<RawManifest>(&String::from_utf8_lossy(&old)) {
            Ok(m) => (m.version + 1, sha256_hex(&old)),
            Err(e) => return fail(1, format!("{mpath}: the manifest there does not read ({}); move it away to start at version 1", e.message())),
        },
        Err(_) => (1, String::new()),
    };
    let m = RawManifest {
        version,
        author: author.trim().to_string(),
        reason: reason.trim().to_string(),
        time: crate::policy::legal::show_time(std::time::SystemTime::now()),
        previous,
        files,
    };
    let text = match toml::to_string(&m) {
        Ok(t) => t,
        Err(e) => return fail(1, format!("cannot write the manifest: {e}")),
    };
    if let Err(e) = std::fs::write(&mpath, text) {
        return fail(73, format!("cannot write {mpath}: {e}"));
    }
    let _ = std::fs::remove_file(format!("{mpath}.sig"));
    Outcome {
        code: 0,
        stdout: format!(
            "{mpath}: version {version}, {} files, by {author}\nnow sign it: ssh-keygen -Y sign -f KEY -n POLICY_NAMESPACE {mpath}\n",
            m.files.len()
        ),
        stderr: String::new(),
    }
}

/// `policy check FILE [--json]`.
pub fn check(path: &str, json: bool) -> Outcome {
    check_signed(path, json, None)
}

/// `policy check FILE [--signers F --order-namespace NS] [--json]`.
pub fn check_signed(
    path: &str,
    json: bool,
    signing: Option<&crate::policy::orders::Signing>,
) -> Outcome {
    if let Err(o) = unreadable(path) {
        return o;
    }
    match crate::runtime::policy_store::load_path_signed(path, signing) {
        Ok(p) => {
            let mut err = String::new();
            for w in &p.warnings {
                let _ = writeln!(err, "{w}");
            }
            Outcome {
                code: 0,
                stdout: if json {
                    pj::line(&pj::check(&p))
                } else {
                    summary(&p)
                },
                stderr: err,
            }
        }
        Err(r) => refused_as(path, &r, json),
    }
}

/// `policy explain --query FILE`: the court orders of the query's agency,
/// each with whether it would let this query through now.
pub fn explain_query_cmd(path: &str, query: &str) -> Outcome {
    let fail = |code: u8, msg: String| Outcome {
        code,
        stdout: String::new(),
        stderr: msg,
    };
    let p = match load_path(path) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("{e}")),
    };
    let raw = match std::fs::read(query) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => return fail(2, format!("{query}: cannot read: {e}\n")),
    };
    match crate::message::parse(raw, &p.catalogue, &crate::message::Limits::default()) {
        Ok(m) => Outcome {
            code: 0,
            stdout: crate::policy::legal::explain_query(&p, &m, std::time::SystemTime::now()),
            stderr: String::new(),
        },
        Err(e) => fail(
            1,
            format!(
                "{query}: the query does not parse ({}): no order could let it through\n",
                e.code.reason()
            ),
        ),
    }
}

/// `policy explain --policy FILE ORI [--mke KEY] [--direction D] [--json]`.
pub fn explain_cmd(
    path: &str,
    ori: &str,
    mke: Option<&str>,
    dir: Option<Direction>,
    json: bool,
) -> Outcome {
    if let Err(o) = unreadable(path) {
        return o;
    }
    match load_path(path) {
        Ok(p) => {
            let ori = ori.trim().to_ascii_uppercase();
            let valid = matches!(ori.len(), 2 | 9)
                && ori
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !valid {
                return Outcome {
                    code: 64,
                    stdout: String::new(),
                    stderr: format!(
                        "{ori:?} is not an ORI (9 characters A-Z 0-9) or a member code (2)\n"
                    ),
                };
            }
            let (action, text) = explain(&p, &ori, mke, dir);
            Outcome {
                code: 0,
                stdout: if json {
                    pj::line(&pj::explain(&p, &ori, action, &text))
                } else {
                    text
                },
                stderr: String::new(),
            }
        }
        Err(r) => refused_as(path, &r, json),
    }
}

/// Exit code of `policy diff --exit-code` when the policies (or, with
/// `--capture`, any outcome) differ. Not 1: that is an invalid policy.
pub const EX_DIFFERS: u8 = 3;

/// `policy diff OLD NEW`.
/// Returns both policies, the number of changes and the text.
pub fn diff_cmd(
    old: &str,
    new: &str,
    json: bool,
) -> Result<(Policy, Policy, usize, String), Outcome> {
    unreadable(old)?;
    unreadable(new)?;
    let o = load_path(old).map_err(|r| refused_as(old, &r, json))?;
    let n = load_path(new).map_err(|r| refused_as(new, &r, json))?;
    let (changes, text) = diff::diff(&o, &n);
    Ok((o, n, changes, text))
}

/// `policy diff OLD NEW --capture FILE --direction D`: replays the capture
/// (from a pcap, its flows in `direction` to or from the default port)
/// through both policies and lists the messages whose outcome changes;
/// returns how many changed, and the text.
pub fn what_if(
    old: &Policy,
    new: &Policy,
    capture: &str,
    direction: Direction,
    framing: crate::capture::stream::InputFraming,
) -> Result<(u64, String), String> {
    what_if_in(
        old,
        new,
        capture,
        &crate::capture::select::Select::direction(direction),
        framing,
    )
}

/// [`what_if`] over the messages `select` names (its direction; outbound
/// when it names none).
pub fn what_if_in(
    old: &Policy,
    new: &Policy,
    capture: &str,
    select: &crate::capture::select::Select,
    framing: crate::capture::stream::InputFraming,
) -> Result<(u64, String), String> {
    let direction = select.direction.unwrap_or(Direction::Outbound);
    use crate::decision::{decide, outcome_label as label};
    let limits = crate::message::Limits::default();
    let mut reader = crate::capture::source::Source::open(
        capture,
        framing,
        select,
        crate::framing::DEFAULT_MAX_MESSAGE,
    )
    .map_err(|e| format!("{capture}: {e}"))?;
    let mut out = String::new();
    let (mut total, mut changed) = (0u64, 0u64);
    let mut moves: std::collections::BTreeMap<(String, String), u64> = Default::default();
    while let Some(item) = reader.next_message() {
        let raw = item.map_err(|e| format!("{capture}: after {total} messages: {e}"))?;
        let a = decide(
            direction,
            raw.clone(),
            old,
            &limits,
            std::time::SystemTime::now(),
        );
        let b = decide(direction, raw, new, &limits, std::time::SystemTime::now());
        let (la, lb) = (label(&a), label(&b));
        if la != lb {
            changed += 1;
            let h = a.header.or(b.header);
            let _ = writeln!(
                out,
                "  #{total} {} {}: {la} -> {lb}",
                h.map_or("?".to_string(), |h| h.mke.to_string()),
                a.counterparty
                    .or(b.counterparty)
                    .map_or("?".to_string(), |o| o.to_string()),
            );
            *moves.entry((la, lb)).or_default() += 1;
        }
        total += 1;
    }
    let mut head = format!(
        "what-if over {capture} ({}): {changed} of {total} messages change outcome\n",
        direction.name()
    );
    for ((a, b), n) in &moves {
        let _ = writeln!(head, "  {a} -> {b}: {n}");
    }
    if changed > 0 {
        head.push_str("messages:\n");
    }
    Ok((changed, head + &out))
}

/// `origuard policy ...`: prints the outcome, returns its exit code.
// Long: one match, one arm per policy subcommand, each passing its arguments on.
pub fn command(cmd: crate::tools::cli::PolicyCommand) -> u8 {
    use crate::tools::cli::PolicyCommand;
    let out = match cmd {
        PolicyCommand::Check {
            file,
            json,
            signers,
            order_namespace,
            policy_namespace,
        } => {
            let signing = signers.map(|s| crate::policy::orders::Signing {
                allowed_signers: s,
                order_namespace: order_namespace.unwrap_or_default(),
                policy_namespace,
            });
            check_signed(&file, json, signing.as_ref())
        }
        PolicyCommand::Manifest {
            file,
            author,
            reason,
            signers,
            order_namespace,
        } => {
            let signing = signers.map(|s| crate::policy::orders::Signing {
                allowed_signers: s,
                order_namespace: order_namespace.unwrap_or_default(),
                policy_namespace: None,
            });
            manifest(&file, &author, &reason, signing.as_ref())
        }
        PolicyCommand::Profile {
            learn,
            framing,
            pcap,
            name,
        } => match crate::capture::source::load(
            &learn,
            framing,
            &pcap.select(Some(Direction::Outbound)),
            crate::framing::DEFAULT_MAX_MESSAGE,
        ) {
            Ok(msgs) => {
                let l = crate::tools::learn::learn(&msgs, &name);
                Outcome {
                        code: 0,
                        stdout: l.toml,
                        stderr: format!(
                            "origuard policy profile: learned from {} messages of {learn} ({} did not parse)\n",
                            l.messages, l.unparsed
                        ),
                    }
            }
            Err(e) => Outcome {
                code: 2,
                stdout: String::new(),
                stderr: format!("origuard policy profile: {e}\n"),
            },
        },
        PolicyCommand::Explain {
            policy,
            ori,
            mke,
            direction,
            json,
            query: None,
        } => explain_cmd(&policy, &ori, mke.as_deref(), direction, json),
        PolicyCommand::Explain {
            policy,
            query: Some(q),
            ..
        } => explain_query_cmd(&policy, &q),
        PolicyCommand::Diff {
            old,
            new,
            capture,
            direction,
            framing,
            pcap,
            exit_code,
            json,
        } => {
            match diff_cmd(&old, &new, json) {
                // With --exit-code, EX_DIFFERS when anything differs: distinct
                // from 1 (a policy refused), so a script can tell "changed"
                // from "invalid".
                Ok((o, n, changes, mut text)) => {
                    let differs = |n: u64| if exit_code && n > 0 { EX_DIFFERS } else { 0 };
                    let as_json = |text: &str, w: Option<(u64, &str)>| {
                        pj::line(&pj::diff(&o, &n, changes, text, w))
                    };
                    match (capture, direction) {
                    (Some(cap), Some(dir)) => match what_if_in(&o, &n, &cap, &pcap.select(Some(dir)), framing) {
                        Ok((moved, w)) => {
                            let stdout = if json {
                                as_json(&text, Some((moved, &w)))
                            } else {
                                text.push_str(&w);
                                text
                            };
                            Outcome {
                                code: differs(changes as u64 + moved),
                                stdout,
                                stderr: String::new(),
                            }
                        }
                        Err(e) => Outcome {
                            code: 2,
                            stdout: text,
                            stderr: format!("origuard policy diff: {e}\n"),
                        },
                    },
                    (Some(_), None) => Outcome {
                        code: super::common::EX_USAGE,
                        stdout: String::new(),
                        stderr:
                            "origuard policy diff: --capture needs --direction inbound|outbound\n"
                                .into(),
                    },
                    _ => Outcome {
                        code: differs(changes as u64),
                        stdout: if json { as_json(&text, None) } else { text },
                        stderr: String::new(),
                    },
                }
                }
                Err(o) => o,
            }
        }
    };
    let written = super::common::write_stdout(out.stdout.as_bytes(), "policy");
    eprint!("{}", out.stderr);
    out.code.max(written)
}
