//! Named administrators on the admin endpoint (loopback): per-person
//! tokens with scopes from the token file; no token, an unknown token and a
//! reader's token trying to reload are refused; every state-changing call
//! is audited with the administrator's name.

mod common;

use common::{audit_with, http};
use origuard::runtime::proxy::Proxy;
use sha2::{Digest, Sha256};

fn h(t: &str) -> String {
    hex::encode(Sha256::digest(t.as_bytes()))
}

#[tokio::test]
async fn reload_and_stop_need_a_named_administrator_with_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    let nlets = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cfg = common::loopback_config(
        &nlets.local_addr().unwrap().to_string(),
        &common::example_policy(),
        Some(&audit),
    );
    let tokens = format!(
        "# principal scopes sha256(token)\nalice@co reload {}\nbob@co read {}\ncarol@co stop {}\n",
        h("alice-token"),
        h("bob-token"),
        h("carol-token")
    );
    let proxy = Proxy::start(&cfg, Some(tokens)).await.unwrap();
    let admin = proxy.admin_addr.unwrap();
    // Read-only endpoints keep their own rule: no token.
    assert_eq!(http(admin, "GET", "/status", None).await.0, 200);
    // No token, an unknown token.
    assert_eq!(http(admin, "POST", "/reload", None).await.0, 401);
    assert_eq!(http(admin, "POST", "/reload", Some("guess")).await.0, 401);
    // A reader trying to reload.
    let (code, body) = http(admin, "POST", "/reload", Some("bob-token")).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("bob@co may not reload"), "{body}");
    let t = audit_with(&audit, "\"identity\":\"bob@co\"").await;
    assert!(t.contains("\"kind\":\"admin_call\",\"identity\":\"bob@co\",\"action\":\"reload\",\"outcome\":\"denied\""), "{t}");
    // The reloader reloads, and is named.
    let (code, body) = http(admin, "POST", "/reload", Some("alice-token")).await;
    assert_eq!(code, 200, "{body}");
    let t = audit_with(&audit, "\"identity\":\"alice@co\"").await;
    assert!(
        t.contains("\"identity\":\"alice@co\",\"action\":\"reload\",\"outcome\":\"applied\""),
        "{t}"
    );
    // Stopping is another scope.
    assert_eq!(
        http(admin, "POST", "/shutdown", Some("alice-token"))
            .await
            .0,
        403
    );
    assert_eq!(
        http(admin, "POST", "/shutdown", Some("carol-token"))
            .await
            .0,
        202
    );
    audit_with(&audit, "\"identity\":\"carol@co\",\"action\":\"shutdown\"").await;
}

#[tokio::test]
async fn a_bad_token_file_stops_the_start() {
    let cfg = common::loopback_config("127.0.0.1:9", &common::example_policy(), None);
    let e = match Proxy::start(&cfg, Some("alice@co fly 00\n".into())).await {
        Ok(_) => panic!("started with a bad token file"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("admin token file: line 1: unknown scope \"fly\""),
        "{e}"
    );
}
