//! TLS for both sides of a link (rustls, ring provider, TLS 1.2 and 1.3
//! only), built from PEM files and reloadable: each handshake uses the
//! configuration current at that moment, so a certificate reload needs no
//! restart and never disturbs established sessions.

use crate::runtime::config::{ClientTls, ServerTls};
use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::sync::Arc;

/// A TLS configuration problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("tls: {0}")]
pub struct TlsError(pub String);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let v: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError(format!("{path}: {e}")))?
        .collect();
    let v = v.map_err(|e| TlsError(format!("{path}: {e}")))?;
    if v.is_empty() {
        return Err(TlsError(format!("{path}: no certificate found")));
    }
    Ok(v)
}

fn key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError(format!("{path}: {e}")))
}

fn roots(path: &str) -> Result<RootCertStore, TlsError> {
    let mut r = RootCertStore::empty();
    for c in certs(path)? {
        r.add(c).map_err(|e| TlsError(format!("{path}: {e}")))?;
    }
    Ok(r)
}

/// Builds the server (switch side) configuration.
pub fn server_config(t: &ServerTls) -> Result<ServerConfig, TlsError> {
    build_server(t, false)
}

/// Builds the admin endpoint's configuration. A client certificate, when
/// presented, must chain to `client_ca`; none is required at the TLS layer,
/// so that probes without one still reach `/live`, `/ready`, `/metrics`
/// (the admin endpoint asks for an identity where a change is made).
pub fn admin_server_config(t: &ServerTls) -> Result<ServerConfig, TlsError> {
    build_server(t, true)
}

fn build_server(t: &ServerTls, optional_client: bool) -> Result<ServerConfig, TlsError> {
    let b = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError(e.to_string()))?;
    let b = match &t.client_ca {
        Some(ca) => {
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            );
            let v = if optional_client {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v.build().map_err(|e| TlsError(format!("{ca}: {e}")))?;
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    b.with_single_cert(certs(&t.cert)?, key(&t.key)?)
        .map_err(|e| TlsError(format!("{}: {e}", t.cert)))
}

/// Builds the client (Nlets side) configuration.
pub fn client_config(t: &ClientTls) -> Result<ClientConfig, TlsError> {
    let b = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError(e.to_string()))?
        .with_root_certificates(roots(&t.ca)?);
    match (&t.cert, &t.key) {
        (Some(c), Some(k)) => b
            .with_client_auth_cert(certs(c)?, key(k)?)
            .map_err(|e| TlsError(format!("{c}: {e}"))),
        _ => Ok(b.with_no_client_auth()),
    }
}

/// Reloadable TLS for one link.
pub struct LinkTls {
    server_spec: Option<ServerTls>,
    client_spec: Option<ClientTls>,
    server: Option<ArcSwap<ServerConfig>>,
    client: Option<ArcSwap<ClientConfig>>,
    server_name: Option<ServerName<'static>>,
}

impl LinkTls {
    /// Loads both sides (either may be absent: plaintext on that side).
    pub fn load(
        server: Option<&ServerTls>,
        client: Option<&ClientTls>,
    ) -> Result<LinkTls, TlsError> {
        let server_name = match client {
            Some(c) => Some(
                ServerName::try_from(c.server_name.clone())
                    .map_err(|e| TlsError(format!("server_name {:?}: {e}", c.server_name)))?,
            ),
            None => None,
        };
        Ok(LinkTls {
            server: server
                .map(server_config)
                .transpose()?
                .map(ArcSwap::from_pointee),
            client: client
                .map(client_config)
                .transpose()?
                .map(ArcSwap::from_pointee),
            server_spec: server.cloned(),
            client_spec: client.cloned(),
            server_name,
        })
    }

    /// Re-reads certificates and keys; on error the current ones stay.
    pub fn reload(&self) -> Result<(), TlsError> {
        let s = self.server_spec.as_ref().map(server_config).transpose()?;
        let c = self.client_spec.as_ref().map(client_config).transpose()?;
        if let (Some(slot), Some(s)) = (&self.server, s) {
            slot.store(Arc::new(s));
        }
        if let (Some(slot), Some(c)) = (&self.client, c) {
            slot.store(Arc::new(c));
        }
        Ok(())
    }

    /// The acceptor for the next switch connection, if TLS is on that side.
    pub fn acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.server
            .as_ref()
            .map(|s| tokio_rustls::TlsAcceptor::from(s.load_full()))
    }

    /// The connector and name for the next upstream connection.
    pub fn connector(&self) -> Option<(tokio_rustls::TlsConnector, ServerName<'static>)> {
        match (&self.client, &self.server_name) {
            (Some(c), Some(n)) => {
                Some((tokio_rustls::TlsConnector::from(c.load_full()), n.clone()))
            }
            _ => None,
        }
    }
}
