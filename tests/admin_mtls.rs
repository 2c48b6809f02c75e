//! Named administrators by TLS client certificate on the admin endpoint
//! (`[admin] tls`), over real TLS on loopback with certificates made by
//! the test (rcgen): a client without a certificate reaches `/live` but
//! cannot reload; a certificate from another CA fails the handshake; a
//! reader's certificate trying to reload is refused (403) and audited; the
//! reloader's certificate reloads and is named in the audit log; tokens
//! keep working over TLS.

mod common;

use common::audit_with;
use common::pki::{ca, connector, leaf, p};
use origuard::runtime::config::ServerTls;
use origuard::runtime::proxy::Proxy;
use rustls::pki_types::ServerName;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTPS request; the status and body, or the I/O error (a refused
/// handshake surfaces here: under TLS 1.3 the server's alert arrives when
/// the client reads).
async fn https(
    addr: SocketAddr,
    tls: &tokio_rustls::TlsConnector,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let go = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("admin.origuard.test").unwrap();
        let mut s = tls.connect(name, tcp).await?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(Duration::from_secs(10), go)
        .await
        .expect("admin request within 10 s")?;
    Ok(common::status_and_body(&out))
}

#[tokio::test]
async fn administrators_are_named_by_their_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ours = ca("ca", d);
    leaf(&ours, "admin", &["admin.origuard.test"], d);
    leaf(&ours, "reloader", &["reloader.admins.origuard.test"], d);
    leaf(&ours, "reader", &["reader.admins.origuard.test"], d);
    leaf(&ours, "stranger", &["stranger.admins.origuard.test"], d);
    // Same DNS name as the reloader, from another CA.
    let other = ca("other-ca", d);
    leaf(&other, "forged", &["reloader.admins.origuard.test"], d);

    let nlets = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let audit = d.join("audit.jsonl");
    let mut cfg = common::loopback_config(
        &nlets.local_addr().unwrap().to_string(),
        &common::example_policy(),
        Some(&audit),
    );
    cfg.admin_tls = Some(ServerTls {
        cert: p(d, "admin.pem"),
        key: p(d, "admin.key"),
        client_ca: Some(p(d, "ca.pem")),
    });
    let admins = format!(
        "# principal scopes credential\n\
         rita@co reload dns:reloader.admins.origuard.test\n\
         ray@co read dns:reader.admins.origuard.test\n\
         alice@co reload {}\n",
        hex::encode(Sha256::digest(b"alice-token"))
    );
    let proxy = Proxy::start(&cfg, Some(admins)).await.unwrap();
    let admin = proxy.admin_addr.unwrap();

    // (a) No certificate: the read-only probes answer, a reload is refused.
    let anon = connector(d, None);
    assert_eq!(
        https(admin, &anon, "GET", "/live", None).await.unwrap(),
        (200, "live\n".to_string())
    );
    assert_eq!(
        https(admin, &anon, "GET", "/metrics", None)
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        https(admin, &anon, "POST", "/reload", None)
            .await
            .unwrap()
            .0,
        401
    );
    // Plain HTTP to the TLS endpoint gets no HTTP answer.
    assert_eq!(common::http(admin, "GET", "/live", None).await.0, 0);

    // (b) A certificate from another CA (even naming the reloader): the
    // server refuses the handshake with an `unknown_ca` alert, so no
    // request is answered at all, not even `/live`.
    let forged = connector(d, Some("forged"));
    for path in ["/reload", "/live"] {
        let method = if path == "/live" { "GET" } else { "POST" };
        match https(admin, &forged, method, path, None).await {
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::InvalidData
                    && e.to_string().contains("received fatal alert: UnknownCA"),
                "{path}: {e}"
            ),
            Ok(r) => panic!("a certificate from another CA was answered: {r:?}"),
        }
    }

    // A certificate of our CA that names nobody: like no certificate.
    let stranger = connector(d, Some("stranger"));
    assert_eq!(
        https(admin, &stranger, "POST", "/reload", None)
            .await
            .unwrap()
            .0,
        401
    );

    // (c) The reader's certificate trying to reload: 403, audited denial.
    let reader = connector(d, Some("reader"));
    let (code, body) = https(admin, &reader, "POST", "/reload", None)
        .await
        .unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("ray@co (cert dns:reader.admins.origuard.test) may not reload"),
        "{body}"
    );
    audit_with(
        &audit,
        "\"kind\":\"admin_call\",\"identity\":\"ray@co (cert dns:reader.admins.origuard.test)\",\"action\":\"reload\",\"outcome\":\"denied\"",
    )
    .await;

    // (d) The reloader's certificate reloads, and the audit names it.
    let reloader = connector(d, Some("reloader"));
    let (code, body) = https(admin, &reloader, "POST", "/reload", None)
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    audit_with(
        &audit,
        "\"kind\":\"admin_call\",\"identity\":\"rita@co (cert dns:reloader.admins.origuard.test)\",\"action\":\"reload\",\"outcome\":\"applied\"",
    )
    .await;
    // Its scope stops at reloading.
    assert_eq!(
        https(admin, &reloader, "POST", "/shutdown", None)
            .await
            .unwrap()
            .0,
        403
    );

    // Token lines keep working over TLS, without a certificate.
    let (code, body) = https(admin, &anon, "POST", "/reload", Some("alice-token"))
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let t = audit_with(
        &audit,
        "\"identity\":\"alice@co\",\"action\":\"reload\",\"outcome\":\"applied\"",
    )
    .await;
    // Nothing was recorded for the refused handshakes or the unknown names.
    assert!(!t.contains("stranger"), "{t}");
    assert_eq!(t.matches("\"kind\":\"admin_call\"").count(), 4, "{t}");
}

#[tokio::test]
async fn an_unusable_admin_certificate_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::loopback_config("127.0.0.1:9", &common::example_policy(), None);
    cfg.admin_tls = Some(ServerTls {
        cert: p(dir.path(), "missing.pem"),
        key: p(dir.path(), "missing.key"),
        client_ca: None,
    });
    let e = match Proxy::start(&cfg, None).await {
        Ok(_) => panic!("started without the admin certificate"),
        Err(e) => e,
    };
    assert_eq!(e.exit_code(), 64, "{e}");
    assert!(e.to_string().contains("link admin: tls: "), "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");
}
