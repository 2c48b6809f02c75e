//! Static checks of `deploy/` that need no tools (scripts/check-deploy runs
//! promtool, systemd-analyze and the Kubernetes schema validator):
//! the Containerfile's shape (we cannot run a container engine here), the
//! metric names the dashboard and the alert rules use (each a real one from
//! `runtime::metrics`), and the Kubernetes copy of the example policy.

use origuard::runtime::metrics;
use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Containerfile instructions: (KEYWORD, arguments), continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim();
        if cur.is_empty() && (l.is_empty() || l.starts_with('#')) {
            continue;
        }
        match l.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(l);
                let (k, a) = cur.split_once(' ').unwrap_or((&cur, ""));
                out.push((k.to_ascii_uppercase(), a.trim().to_string()));
                cur.clear();
            }
        }
    }
    out
}

#[test]
fn containerfile_is_multi_stage_pinned_and_non_root() {
    let ins = instructions(&read("deploy/Containerfile"));
    let froms: Vec<&str> = ins
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(froms.len() >= 2, "not multi-stage: {froms:?}");
    for f in &froms {
        let image = f.split_whitespace().next().unwrap();
        let tag = image.rsplit_once(':').map(|x| x.1).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.contains('/'),
            "base image without a pinned tag: {image}"
        );
    }
    assert!(
        froms[0].to_ascii_lowercase().contains(" as build"),
        "{froms:?}"
    );
    // The runtime stage: what follows the last FROM.
    let last = ins.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let runtime = &ins[last..];
    let user = runtime
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.as_str())
        .expect("no USER in the runtime stage");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid != "root" && uid != "0" && uid.parse::<u32>().is_ok_and(|u| u >= 1000),
        "runtime user {user:?} must be a numeric non-root uid (runAsNonRoot needs numbers)"
    );
    assert!(
        runtime
            .iter()
            .any(|(k, a)| k == "COPY" && a.starts_with("--from=build")),
        "the runtime stage must take only the binary from the build stage"
    );
    assert!(
        !runtime.iter().any(|(k, _)| k == "RUN"),
        "no RUN in the runtime image"
    );
    let exposed: BTreeSet<&str> = runtime
        .iter()
        .filter(|(k, _)| k == "EXPOSE")
        .flat_map(|(_, a)| a.split_whitespace())
        .map(|p| p.trim_end_matches("/tcp"))
        .collect();
    assert_eq!(exposed, BTreeSet::from(["7101", "9750"]));
    let entry = runtime.iter().find(|(k, _)| k == "ENTRYPOINT").unwrap();
    assert!(
        entry.1.starts_with('['),
        "ENTRYPOINT in exec form, so SIGTERM reaches origuard: {entry:?}"
    );
    // The build uses the lock file, and the uid is the one the pod runs as.
    assert!(ins
        .iter()
        .any(|(k, a)| k == "RUN" && a.contains("cargo build --release --locked")));
    let dep = read("deploy/kubernetes/deployment.yaml");
    assert!(
        dep.contains(&format!("runAsUser: {uid}")),
        "runAsUser differs from the image's USER {uid}"
    );
}

/// Every `origuard_…` name in `text`, with the histogram series suffixes
/// (`_bucket`, `_sum`, `_count`) taken off.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("origuard_") {
        if text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(rest.len());
        let mut n = &rest[..end];
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = n.strip_suffix(suffix) {
                if metrics::ALL.contains(&base) {
                    n = base;
                }
            }
        }
        out.insert(n.to_string());
    }
    out
}

#[test]
fn dashboard_uses_real_metrics_and_shows_what_operators_need() {
    let text = read("deploy/grafana/origuard.json");
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exprs: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    let all = exprs.join("\n");
    let used = metric_names(&all);
    for n in &used {
        assert!(
            metrics::ALL.contains(&n.as_str()),
            "dashboard: no metric {n}"
        );
    }
    for want in [
        metrics::MESSAGES,
        metrics::REDACTIONS,
        metrics::FORWARD_SECONDS,
        metrics::SESSIONS_ACTIVE,
        metrics::AUDIT_HEALTHY,
        metrics::POLICY_RELOADS,
        metrics::UPSTREAM_FAILURES,
        metrics::REFUSED,
        metrics::FRAME_ERRORS,
        metrics::READY,
    ] {
        assert!(used.contains(want), "dashboard does not show {want}");
    }
    assert!(all.contains("category=\"denied\"") && all.contains("by (list"));
    assert!(all.contains("field") && all.contains("histogram_quantile(0.99"));
    // The instance variable filters every query.
    assert!(exprs.iter().all(|e| e.contains("instance=~\"$instance\"")));
}

#[test]
fn alerts_use_real_metrics_and_cover_the_failures() {
    let text = read("deploy/prometheus/alerts.yml");
    for n in metric_names(&text) {
        assert!(
            metrics::ALL.contains(&n.as_str()),
            "alerts.yml: no metric {n}"
        );
    }
    for alert in [
        "OriguardAuditLogUnhealthy",
        "OriguardNotReady",
        "OriguardUpstreamFailuresRising",
        "OriguardPolicyReloadRefused",
        "OriguardFrameErrorsSpike",
        "OriguardSessionsNearCap",
        "OriguardNoTraffic",
    ] {
        assert!(
            text.contains(&format!("alert: {alert}\n")),
            "no alert {alert}"
        );
    }
    let tests = read("deploy/prometheus/alerts.test.yml");
    let tested = tests.matches("alertname: ").count();
    assert!(tested >= 2, "promtool tests for at least two alerts");
}

#[test]
fn kubernetes_policy_is_the_example_policy() {
    for f in [
        "colorado.toml",
        "lists/immigration.txt",
        "lists/federal_redact.txt",
    ] {
        assert_eq!(
            read(&format!("deploy/kubernetes/policy/{f}")),
            read(&format!("deploy/policy/{f}")),
            "deploy/kubernetes/policy/{f} differs from deploy/policy/{f}"
        );
    }
    // Every list file the policy names is mounted by the Deployment.
    let dep = read("deploy/kubernetes/deployment.yaml");
    let kz = read("deploy/kubernetes/kustomization.yaml");
    for f in ["immigration.txt", "federal_redact.txt"] {
        assert!(dep.contains(&format!("path: lists/{f}")), "{f} not mounted");
        assert!(
            kz.contains(&format!("{f}=policy/lists/{f}")),
            "{f} not in the ConfigMap"
        );
    }
}
