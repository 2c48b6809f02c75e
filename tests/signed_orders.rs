//! Signed court orders (`[court_orders] dir`) with real `ssh-keygen` keys
//! and signatures: an order is in force only with the signatures of two
//! distinct principals over its exact bytes; unsigned, under-signed (one
//! person twice), tampered, expired-key, administrative or unattributed
//! orders are refused by `policy check` and at reload, and the orders in
//! force stay. Fails under `CI=true` without ssh-keygen (`.ci/run` installs
//! openssh-client).

mod common;
use common::ssh::*;
use origuard::audit::record::Event;
use origuard::policy::orders::Signing;
use origuard::runtime::policy_store::{load_path_signed, PolicyStore, Reload};
use std::path::{Path, PathBuf};

const NS: &str = "origuard-order@co";

/// `ssh-keygen -Y sign` of `file` with `key`, saved as `file.NAME.sig`.
fn sign(key: &Path, file: &Path, name: &str, ns: &str) {
    let sig = sign_file(key, file, ns);
    std::fs::rename(sig, format!("{}.{name}.sig", file.display())).unwrap();
}

fn order(id: &str, issuer: &str, extra: &str) -> String {
    format!(
        r#"entered_by = "clerk@co"

[exception]
id = "{id}"
ori = "VTICE0900"
subject = {{ name = "DOE, JANE Q", dob = "1980-01-15" }}
authority = {{ court = "U.S. District Court, D. Colo.", judge = "Hon. A. Example", case = "1:26-cr-{id}", document = "warrant", judicial = true, issuer = "{issuer}" }}
not_before = "2026-01-01T00:00:00Z"
expires = "2099-12-31T23:59:59Z"
max_uses = 2
release = ["photo"]
profile = "court-order-photo"
{extra}"#
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: String,
    signing: Signing,
    alice: PathBuf,
    alice2: PathBuf,
    bob: PathBuf,
    mallory: PathBuf,
}

impl Fixture {
    /// The production example policy with `court_orders.dir = "orders"`,
    /// signers alice (two keys), bob, carol (expired), clerk; mallory's key
    /// is in no file.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy");
        let text = std::fs::read_to_string(deploy.join("colorado.toml"))
            .unwrap()
            .replace(
                "response_window = \"10m\"",
                "response_window = \"10m\"\ndir = \"orders\"",
            );
        std::fs::write(root.join("colorado.toml"), text).unwrap();
        std::fs::create_dir(root.join("lists")).unwrap();
        for e in std::fs::read_dir(deploy.join("lists")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), root.join("lists").join(e.file_name())).unwrap();
        }
        std::fs::create_dir(root.join("orders")).unwrap();
        let keys = root.join("keys");
        std::fs::create_dir(&keys).unwrap();
        let (alice, a_pub) = keygen(&keys, "alice");
        let (alice2, a2_pub) = keygen(&keys, "alice2");
        let (bob, b_pub) = keygen(&keys, "bob");
        let (_carol, c_pub) = keygen(&keys, "carol");
        let (_clerk, k_pub) = keygen(&keys, "clerk");
        let (mallory, _) = keygen(&keys, "mallory");
        let allowed = format!(
            "alice@co namespaces=\"{NS}\" {a_pub}\nalice@co namespaces=\"{NS}\" {a2_pub}\nbob@co namespaces=\"{NS},origuard-policy@co\" {b_pub}\ncarol@co valid-before=\"20250101Z\" {c_pub}\nclerk@co namespaces=\"none@co\" {k_pub}\n"
        );
        std::fs::write(root.join("allowed_signers"), allowed).unwrap();
        Fixture {
            policy: root.join("colorado.toml").to_str().unwrap().to_string(),
            signing: Signing {
                allowed_signers: root.join("allowed_signers").to_str().unwrap().to_string(),
                order_namespace: NS.to_string(),
                policy_namespace: None,
            },
            _dir: dir,
            root,
            alice,
            alice2,
            bob,
            mallory,
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.root.join("orders").join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn errors(&self) -> String {
        match load_path_signed(&self.policy, Some(&self.signing)) {
            Ok(p) => panic!("loaded with {} orders", p.exceptions.len()),
            Err(r) => r.to_string(),
        }
    }
}

#[test]
fn two_distinct_signers_bring_an_order_into_force() {
    if !have_ssh_keygen("signed-order") {
        return;
    }
    let f = Fixture::new();
    let o = f.write("0042.toml", &order("0042", "federal_judge", ""));
    sign(&f.alice, &o, "alice", NS);
    sign(&f.bob, &o, "bob", NS);
    let p = load_path_signed(&f.policy, Some(&f.signing)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.exceptions.len(), 1);
    let e = &p.exceptions[0];
    assert_eq!(&*e.id, "0042");
    assert_eq!(e.approved_by, ["alice@co", "bob@co"]);
    assert_eq!(
        e.issuer,
        Some(origuard::policy::legal::Issuer::FederalJudge)
    );
    let s = &p.order_seals[0];
    assert_eq!(s.entered_by, "clerk@co");
    assert!(s.approvers.iter().all(|a| a.key.starts_with("SHA256:")));
    // The audit record names who entered it and who approved it.
    let ev = Event::orders_entered(None, &p);
    let line = serde_json::to_string(&ev[0]).unwrap();
    for want in [
        "\"kind\":\"order_entered\"",
        "\"entered_by\":\"clerk@co\"",
        "alice@co (SHA256:",
        "bob@co (SHA256:",
    ] {
        assert!(line.contains(want), "{line}");
    }
    // Who may sign is recorded too.
    let line = serde_json::to_string(&Event::signers_in_force(None, &p).unwrap()).unwrap();
    assert!(
        line.contains("\"kind\":\"signers_in_force\"")
            && line.contains("alice@co SHA256:")
            && line.contains("namespaces=origuard-order@co")
            && line.contains("\"previous\":null"),
        "{line}"
    );
    assert!(Event::signers_in_force(Some(&p), &p).is_none());
    // Without signers configured, a signed-orders directory is an error.
    let r = load_path_signed(&f.policy, None).unwrap_err().to_string();
    assert!(r.contains("no signers are configured"), "{r}");
}

#[test]
fn short_or_bad_signatures_refuse_the_order() {
    if !have_ssh_keygen("signed-order") {
        return;
    }
    let f = Fixture::new();
    // Unsigned.
    let o = f.write("0042.toml", &order("0042", "state_judge", ""));
    let r = f.errors();
    assert!(
        r.contains("order not in force: 0 of 2 approvals") && r.contains("signed by: nobody"),
        "{r}"
    );
    // One person twice (two keys, two files) counts once.
    sign(&f.alice, &o, "alice", NS);
    sign(&f.alice2, &o, "alice-again", NS);
    let r = f.errors();
    assert!(
        r.contains("1 of 2 approvals") && r.contains("signed by: alice@co)"),
        "{r}"
    );
    // A key in no allowed_signers line does not count.
    sign(&f.mallory, &o, "mallory", NS);
    let r = f.errors();
    assert!(
        r.contains("0042.toml.mallory.sig: key SHA256:") && r.contains("is not in allowed_signers"),
        "{r}"
    );
    std::fs::remove_file(format!("{}.mallory.sig", o.display())).unwrap();
    // Wrong namespace.
    sign(&f.bob, &o, "bob", "origuard-policy@co");
    let r = f.errors();
    assert!(
        r.contains("signed under namespace \"origuard-policy@co\""),
        "{r}"
    );
    // Now two people: in force. Then tamper with it after signing.
    sign(&f.bob, &o, "bob", NS);
    load_path_signed(&f.policy, Some(&f.signing)).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&o)
        .unwrap()
        .replace("max_uses = 2", "max_uses = 200");
    std::fs::write(&o, text).unwrap();
    let r = f.errors();
    assert!(
        r.contains("does not match these bytes") && r.contains("0 of 2"),
        "{r}"
    );
}

#[test]
fn content_rules_of_signed_orders() {
    if !have_ssh_keygen("signed-order") {
        return;
    }
    for (text, want) in [
        (
            order("0050", "administrative", ""),
            "is not a court order under C.R.S. 24-74",
        ),
        (
            order("0051", "county_sheriff", ""),
            "must be \"federal_judge\"",
        ),
        (
            order("0052", "state_judge", "").replace(", issuer = \"state_judge\"", ""),
            "authority.issuer is required",
        ),
        (
            order("0053", "state_judge", "approved_by = [\"x\", \"y\"]\n"),
            "approved_by is not written in a signed order",
        ),
        (
            order("0054", "state_judge", "").replace("clerk@co", "someone"),
            "entered_by \"someone\" is not a principal",
        ),
    ] {
        let f = Fixture::new();
        let o = f.write("o.toml", &text);
        sign(&f.alice, &o, "alice", NS);
        sign(&f.bob, &o, "bob", NS);
        let r = f.errors();
        assert!(
            r.contains(want) && r.contains("order not in force: "),
            "{want}: {r}"
        );
    }
    // With signers configured, an inline (unsigned) exception is refused.
    let f = Fixture::new();
    let inline = order("0060", "state_judge", "approved_by = [\"a\", \"b\"]\n")
        .replace("entered_by = \"clerk@co\"\n", "")
        .replace("[exception]", "[[exception]]");
    let mut text = std::fs::read_to_string(&f.policy).unwrap();
    text.push_str(&inline);
    std::fs::write(&f.policy, text).unwrap();
    let r = f.errors();
    assert!(
        r.contains("takes effect only from court_orders.dir with two signatures"),
        "{r}"
    );
}

#[test]
fn expired_key_is_refused_and_reload_keeps_the_orders_in_force() {
    if !have_ssh_keygen("signed-order") {
        return;
    }
    let f = Fixture::new();
    let o = f.write("0042.toml", &order("0042", "magistrate_judge", ""));
    sign(&f.alice, &o, "alice", NS);
    sign(&f.bob, &o, "bob", NS);
    let store = PolicyStore::open_signed(&f.policy, Some(f.signing.clone())).unwrap();
    let v1 = store.current().version.clone();
    // A second order signed by alice and carol, whose key expired.
    let carol = f.root.join("keys/carol");
    let o2 = f.write("0043.toml", &order("0043", "state_judge", ""));
    sign(&f.alice, &o2, "alice", NS);
    sign(&carol, &o2, "carol", NS);
    match store.reload() {
        Reload::Refused { kept, errors } => {
            assert_eq!(kept, v1);
            let s = errors.to_string();
            assert!(
                s.contains("carol@co's key expired at 2025-01-01T00:00:00Z"),
                "{s}"
            );
            let ev = Event::orders_refused(&errors, "file_watch");
            assert_eq!(ev.len(), 1, "{ev:?}");
            let line = serde_json::to_string(&ev[0]).unwrap();
            assert!(
                line.contains("\"kind\":\"order_refused\"") && line.contains("0043.toml"),
                "{line}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The order in force before stays in force.
    let p = store.current();
    assert_eq!(p.version, v1);
    assert_eq!(p.exceptions.len(), 1);
    assert_eq!(&*p.exceptions[0].id, "0042");
    // Bob signs too: both in force; only the new one is a new entry.
    sign(&f.bob, &o2, "bob", NS);
    let old = store.current();
    assert!(matches!(store.reload(), Reload::Applied { .. }));
    let new = store.current();
    assert_eq!(new.exceptions.len(), 2);
    let ev = Event::orders_entered(Some(&old), &new);
    assert_eq!(ev.len(), 1);
    assert!(matches!(&ev[0], Event::OrderEntered { order, .. } if order == "0043"));
    assert!(Event::signers_in_force(Some(&old), &new).is_none());
    // A changed allowed_signers is a change of its own.
    let mut a = std::fs::read_to_string(&f.signing.allowed_signers).unwrap();
    a.push_str("# dave@co leaves\n");
    std::fs::write(&f.signing.allowed_signers, a).unwrap();
    assert!(matches!(store.reload(), Reload::Applied { .. }));
    let e = Event::signers_in_force(Some(&new), &store.current()).unwrap();
    assert!(
        matches!(&e, Event::SignersInForce { previous: Some(p), .. } if *p == new.signers.as_ref().unwrap().sha256)
    );
}

#[test]
fn policy_check_cli_names_what_is_missing() {
    if !have_ssh_keygen("signed-order") {
        return;
    }
    let f = Fixture::new();
    let o = f.write("0042.toml", &order("0042", "federal_judge", ""));
    sign(&f.alice, &o, "alice", NS);
    let run = || {
        common::cli::bin()
            .args([
                "policy",
                "check",
                &f.policy,
                "--signers",
                &f.signing.allowed_signers,
                "--order-namespace",
                NS,
            ])
            .output()
            .unwrap()
    };
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("0042.toml: error: order not in force: 1 of 2 approvals by distinct people (signed by: alice@co)"), "{err}");
    assert!(
        err.contains("ssh-keygen -Y sign -f KEY -n origuard-order@co"),
        "{err}"
    );
    sign(&f.bob, &o, "bob", NS);
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("signed order 0042")
            && text.contains("entered by clerk@co, approved by alice@co (SHA256:"),
        "{text}"
    );
}
