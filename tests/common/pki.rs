//! Certificates made by the test (rcgen) for the TLS tests: a CA written
//! as `NAME.pem`, leaves it signs as `NAME.pem` / `NAME.key`, and a rustls
//! client that trusts `ca.pem`.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// A certificate authority: what it needs to sign leaves.
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
}

/// A self-signed CA called `name`, its certificate written to
/// `dir/name.pem`.
pub fn ca(name: &str, dir: &Path) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    Ca { params, key }
}

/// A certificate `name.pem` / `name.key` in `dir`, signed by `ca`, with
/// `sans` as its subject alternative names.
pub fn leaf(ca: &Ca, name: &str, sans: &[&str], dir: &Path) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// `dir/f` as a string, as the configuration takes paths.
pub fn p(dir: &Path, f: &str) -> String {
    dir.join(f).to_str().unwrap().to_string()
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file.
pub fn certs(path: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

/// A root store holding every certificate in a PEM file.
pub fn roots(path: &str) -> rustls::RootCertStore {
    let mut r = rustls::RootCertStore::empty();
    for c in certs(path) {
        r.add(c).unwrap();
    }
    r
}

/// A TLS client trusting `dir/ca.pem`, presenting `client` (`NAME.pem` /
/// `NAME.key` in `dir`; None: no certificate).
pub fn connector(dir: &Path, client: Option<&str>) -> tokio_rustls::TlsConnector {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(&p(dir, "ca.pem")));
    let cfg = match client {
        Some(n) => b
            .with_client_auth_cert(
                certs(&p(dir, &format!("{n}.pem"))),
                PrivateKeyDer::from_pem_file(p(dir, &format!("{n}.key"))).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}
