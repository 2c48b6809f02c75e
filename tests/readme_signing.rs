//! README's *Accountable changes* trial, run as written (issue 23's "done
//! when"): two signer keys, a signed order and a signed policy bundle
//! loaded, their names in the audit log and the internal report, a reader
//! refused a reload, an unsigned order refused while the one in force
//! stays. The shell block is taken from README.md itself; only the binary,
//! the checkout's path and the ports are filled in.

use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn readme_signing_trial_runs_as_written() {
    for tool in ["ssh-keygen", "curl", "python3", "sha256sum"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{tool} is needed by README's trial (.ci/run installs it)"
        );
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = &readme[readme
        .find("### Accountable changes")
        .expect("README has the trial")..];
    let start = section.find("```sh\n").unwrap() + 6;
    let end = start + section[start..].find("\n```").unwrap();
    let (admin, listen, up) = (free_port(), free_port(), free_port());
    let script = section[start..end]
        .replace(
            "OG=$PWD/target/debug/origuard",
            &format!("OG={}", env!("CARGO_BIN_EXE_origuard")),
        )
        .replace(
            "cp -r ../deploy/policy",
            &format!("cp -r {root}/deploy/policy"),
        )
        .replace("19751", &admin.to_string())
        .replace("17101", &listen.to_string())
        .replace("17102", &up.to_string());
    assert!(script.contains(&format!("OG={}", env!("CARGO_BIN_EXE_origuard"))));
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .args(["-c", &format!("set -e\n{script}")])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "README trial failed:\n{out}\n{err}");
    for want in [
        "\"kind\":\"policy_signed\"",
        "\"kind\":\"order_entered\"",
        "forbidden: bob@co may not reload",
        "0 of 2 approvals",
        "policy_signed signed policy bundle version 1 by alice@co",
        "order_entered court order 2026-CR-0042 in force: entered by alice@co, approved by alice@co",
        "admin_call bob@co asked to reload on the admin endpoint: denied",
        "order_refused",
    ] {
        assert!(out.contains(want), "{want} not in the trial's output:\n{out}\n{err}");
    }
}
