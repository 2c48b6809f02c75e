//! Signed policy bundles (`require_signed_policy`) with real `ssh-keygen`
//! signatures: `origuard policy manifest` writes the manifest, its author
//! signs it, and the policy loads only as signed; a changed list file, an
//! unsigned or wrongly signed manifest, and a rolled-back manifest are
//! refused while the policy in force stays. Fails under `CI=true` without
//! ssh-keygen (`.ci/run` installs openssh-client).

mod common;
use common::ssh::*;
use origuard::audit::record::Event;
use origuard::policy::orders::Signing;
use origuard::runtime::policy_store::{load_path_signed, PolicyStore, Reload};
use std::path::{Path, PathBuf};

const PNS: &str = "origuard-policy@co";

fn manifest(policy: &str, author: &str, reason: &str) -> String {
    let o = common::cli::bin()
        .args([
            "policy", "manifest", policy, "--author", author, "--reason", reason,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: String,
    signing: Signing,
    alice: PathBuf,
    bob: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy");
    std::fs::copy(deploy.join("colorado.toml"), root.join("colorado.toml")).unwrap();
    std::fs::create_dir(root.join("lists")).unwrap();
    for e in std::fs::read_dir(deploy.join("lists")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), root.join("lists").join(e.file_name())).unwrap();
    }
    let (alice, a) = keygen(&root, "alice");
    let (bob, b) = keygen(&root, "bob");
    std::fs::write(
        root.join("allowed_signers"),
        format!("alice@co namespaces=\"{PNS}\" {a}\nbob@co namespaces=\"origuard-order@co\" {b}\n"),
    )
    .unwrap();
    Fixture {
        policy: root.join("colorado.toml").to_str().unwrap().to_string(),
        signing: Signing {
            allowed_signers: root.join("allowed_signers").to_str().unwrap().to_string(),
            order_namespace: "origuard-order@co".into(),
            policy_namespace: Some(PNS.into()),
        },
        _dir: dir,
        root,
        alice,
        bob,
    }
}

fn refused(f: &Fixture) -> String {
    match load_path_signed(&f.policy, Some(&f.signing)) {
        Ok(_) => panic!("loaded"),
        Err(r) => r.to_string(),
    }
}

#[test]
fn a_bundle_loads_only_as_signed_by_its_author() {
    if !have_ssh_keygen("signed-bundle") {
        return;
    }
    let f = fixture();
    let r = refused(&f);
    assert!(
        r.contains("requires a signed policy and there is no manifest"),
        "{r}"
    );
    let out = manifest(&f.policy, "alice@co", "CHG-1 first signed policy");
    assert!(out.contains("version 1"), "{out}");
    let mpath = format!("{}.manifest", f.policy);
    let text = std::fs::read_to_string(&mpath).unwrap();
    assert!(
        text.contains("\"colorado.toml\" = ") && text.contains("\"lists/"),
        "{text}"
    );
    let r = refused(&f);
    assert!(r.contains("the manifest is not signed"), "{r}");
    // Signed by someone else than its author.
    sign_file(&f.bob, Path::new(&mpath), PNS);
    let r = refused(&f);
    assert!(
        r.contains("bob@co may not sign under \"origuard-policy@co\""),
        "{r}"
    );
    sign_file(&f.alice, Path::new(&mpath), PNS);
    let p = load_path_signed(&f.policy, Some(&f.signing)).unwrap_or_else(|e| panic!("{e}"));
    let m = p.manifest.as_ref().unwrap();
    assert_eq!((m.version, m.author.as_str()), (1, "alice@co"));
    assert_eq!(m.reason, "CHG-1 first signed policy");
    let line = serde_json::to_string(&Event::policy_signed(None, &p).unwrap()).unwrap();
    assert!(
        line.contains("\"kind\":\"policy_signed\"")
            && line.contains("\"author\":\"alice@co (SHA256:"),
        "{line}"
    );
    // A list file changed after signing.
    let list = std::fs::read_dir(f.root.join("lists"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut t = std::fs::read_to_string(&list).unwrap();
    t.push_str("\n# changed\n");
    std::fs::write(&list, t).unwrap();
    let r = refused(&f);
    assert!(
        r.contains("differs from the signed manifest")
            && r.contains("policy bundle not accepted: "),
        "{r}"
    );
}

#[test]
fn rollback_is_refused_and_the_policy_in_force_stays() {
    if !have_ssh_keygen("signed-bundle") {
        return;
    }
    let f = fixture();
    let mpath = format!("{}.manifest", f.policy);
    manifest(&f.policy, "alice@co", "CHG-1");
    sign_file(&f.alice, Path::new(&mpath), PNS);
    let v1 = (
        std::fs::read(&f.policy).unwrap(),
        std::fs::read(&mpath).unwrap(),
        std::fs::read(format!("{mpath}.sig")).unwrap(),
    );
    let state = f
        .root
        .join("policy-state.json")
        .to_str()
        .unwrap()
        .to_string();
    let store =
        PolicyStore::open_signed_state(&f.policy, Some(f.signing.clone()), Some(state.clone()))
            .unwrap();
    // Version 2: a changed description line.
    let text = String::from_utf8(v1.0.clone()).unwrap() + "\n# change two\n";
    std::fs::write(&f.policy, text).unwrap();
    let r = store.reload();
    assert!(
        matches!(&r, Reload::Refused { errors, .. } if errors.to_string().contains("colorado.toml differs from the signed manifest")),
        "{r:?}"
    );
    if let Reload::Refused { errors, .. } = &r {
        let ev = Event::bundle_refused(errors, "file_watch");
        assert!(!ev.is_empty());
    }
    let out = manifest(&f.policy, "alice@co", "CHG-2");
    assert!(out.contains("version 2"), "{out}");
    sign_file(&f.alice, Path::new(&mpath), PNS);
    let before = store.current();
    assert!(matches!(store.reload(), Reload::Applied { .. }));
    let v2 = store.current();
    assert_eq!(v2.manifest.as_ref().unwrap().version, 2);
    assert_eq!(
        v2.manifest.as_ref().unwrap().previous,
        before.manifest.as_ref().unwrap().sha256
    );
    // Put version 1 back, validly signed as it was: a rollback.
    std::fs::write(&f.policy, &v1.0).unwrap();
    std::fs::write(&mpath, &v1.1).unwrap();
    std::fs::write(format!("{mpath}.sig"), &v1.2).unwrap();
    load_path_signed(&f.policy, Some(&f.signing)).expect("version 1 is validly signed on its own");
    match store.reload() {
        Reload::Refused { kept, errors } => {
            assert_eq!(kept, v2.version);
            let s = errors.to_string();
            assert!(s.contains("manifest version 1 is not newer than version 2 in force (a rollback is refused"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.current().version, v2.version);
    // A restart with version 1 on disk: the state file remembers version 2.
    drop(store);
    let e = match PolicyStore::open_signed_state(
        &f.policy,
        Some(f.signing.clone()),
        Some(state.clone()),
    ) {
        Ok(_) => panic!("rolled back at start"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("manifest version 1 is not newer than version 2 in force"),
        "{e}"
    );
    std::fs::write(&state, "garbage").unwrap();
    let e = match PolicyStore::open_signed_state(&f.policy, Some(f.signing.clone()), Some(state)) {
        Ok(_) => panic!("started with a broken state file"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("the signed-policy state file does not read"),
        "{e}"
    );
}
