//! TLS to etcd: the client's settings from `[cluster]`'s files, and a
//! probe that says in words why TLS to an endpoint fails.
//!
//! The etcd client (tonic over rustls) reports a refused certificate as
//! etcd not answering, in words that vary from one try to the next
//! (measured here: a wrong CA gives "The service is currently unavailable
//! ... invalid peer certificate: UnknownIssuer"; a missing client
//! certificate "operation was canceled ... connection closed" on one try
//! and "transport error ... received fatal alert: BadCertificate" on the
//! next), and nothing that says which file to check. So when
//! TLS is configured the agent checks each endpoint itself with the same
//! files: a TCP connection, a handshake offering `h2` as gRPC does, then
//! HTTP/2's preface, whose answer proves the server took the client's
//! certificate (in TLS 1.3 a server refuses a client certificate only
//! after the client's handshake is done, with an alert on the first read,
//! RFC 8446 section 4.4.2.4).
//!
//! The probe runs at start (a daemon whose certificates etcd refuses does
//! not start; one that cannot reach etcd starts, as without TLS) and when
//! a request to etcd fails, so that the error says what is wrong with TLS
//! rather than that etcd does not answer.

use std::sync::Arc;
use std::time::Duration;

use config::ClusterConfig;
use etcd_client::{Certificate, Identity, TlsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::agent::AgentError;

/// How long each step of the probe may take.
const STEP: Duration = Duration::from_secs(1);

/// HTTP/2's client connection preface and an empty SETTINGS frame
/// (RFC 9113 section 3.4): a server that took the handshake answers with
/// its own SETTINGS.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// What the probe found at one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// TLS works: the server answered after the handshake.
    Ok,
    /// No TCP connection: not a TLS problem.
    Unreachable(String),
    /// TLS failed, in words.
    Refused(String),
}

/// The etcd client's TLS settings from `[cluster]`, if it has TLS.
pub(super) fn client_options(config: &ClusterConfig) -> Result<Option<TlsOptions>, AgentError> {
    let Some(ca) = &config.ca_file else {
        return Ok(None);
    };
    let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(Some(tls))
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, AgentError> {
    std::fs::read(path).map_err(AgentError::io(format!("read {}", path.display())))
}

/// The probe's own rustls settings, from the same files.
fn rustls_config(config: &ClusterConfig) -> Result<ClientConfig, String> {
    let ca = config.ca_file.as_ref().ok_or("no ca_file")?;
    let bad = |path: &std::path::Path, err: &dyn std::fmt::Display| {
        format!("cannot use {}: {err}", path.display())
    };
    let mut roots = RootCertStore::empty();
    let pem = std::fs::read(ca).map_err(|e| bad(ca, &e))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.map_err(|e| bad(ca, &e))?)
            .map_err(|e| bad(ca, &e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut tls = match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => {
            let pem = std::fs::read(cert).map_err(|e| bad(cert, &e))?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(cert, &e))?;
            let pem = std::fs::read(key).map_err(|e| bad(key, &e))?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad(key, &e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| bad(cert, &e))?
        }
        _ => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tls)
}

/// Probes every `https://` endpoint of `config`.
pub async fn probe(config: &ClusterConfig) -> Vec<(String, Probe)> {
    let tls = match rustls_config(config) {
        Ok(tls) => TlsConnector::from(Arc::new(tls)),
        Err(err) => {
            return config
                .endpoints
                .iter()
                .map(|e| (e.clone(), Probe::Refused(err.clone())))
                .collect();
        }
    };
    let mut found = Vec::new();
    for endpoint in config
        .endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
    {
        found.push((endpoint.clone(), probe_one(&tls, endpoint).await));
    }
    found
}

/// One endpoint: connect, handshake, preface, answer.
async fn probe_one(tls: &TlsConnector, endpoint: &str) -> Probe {
    let authority = endpoint
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, _)) => host,
        None => authority,
    };
    let Ok(name) = ServerName::try_from(host.trim_matches(['[', ']']).to_owned()) else {
        return Probe::Refused(format!("{host:?} is not a server name"));
    };
    let tcp = match tokio::time::timeout(STEP, tokio::net::TcpStream::connect(authority)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => return Probe::Unreachable(err.to_string()),
        Err(_) => return Probe::Unreachable("no TCP connection in 1 s".into()),
    };
    let mut stream = match tokio::time::timeout(STEP, tls.connect(name, tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Probe::Refused(explain(&err.to_string())),
        Err(_) => return Probe::Refused("no TLS handshake in 1 s".into()),
    };
    if let Err(err) = stream.write_all(PREFACE).await {
        return Probe::Refused(explain(&err.to_string()));
    }
    let mut answer = [0u8; 9];
    match tokio::time::timeout(STEP, stream.read(&mut answer)).await {
        Ok(Ok(0)) => Probe::Refused("etcd closed the connection after the TLS handshake".into()),
        Ok(Ok(_)) => Probe::Ok,
        Ok(Err(err)) => Probe::Refused(explain(&err.to_string())),
        // Nothing said: no refusal seen, let the client try.
        Err(_) => Probe::Ok,
    }
}

/// rustls's words, with what to check.
fn explain(error: &str) -> String {
    let hint = if error.contains("UnknownIssuer") || error.contains("BadSignature") {
        "; is cluster.ca_file the CA that signed etcd's server certificate?"
    } else if error.contains("NotValidForName") {
        "; etcd's server certificate does not name the address of the endpoint (subjectAltName)"
    } else if error.contains("Expired") || error.contains("NotValidYet") {
        "; check the certificates' dates and this host's clock"
    } else if error.contains("alert") {
        "; etcd refused this host's client certificate: check cluster.cert_file and key_file (etcd's --client-cert-auth wants one its --trusted-ca-file signed)"
    } else {
        ""
    };
    format!("{error}{hint}")
}

/// The probe's findings where TLS failed, one clause per endpoint, or
/// `None` when TLS was not the problem anywhere.
pub fn refusals(found: &[(String, Probe)]) -> Option<String> {
    let refused: Vec<String> = found
        .iter()
        .filter_map(|(endpoint, probe)| match probe {
            Probe::Refused(why) => Some(format!("TLS to etcd at {endpoint} failed: {why}")),
            _ => None,
        })
        .collect();
    (!refused.is_empty()).then(|| refused.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_each_endpoint_and_say_what_to_check() {
        let found = vec![
            ("https://10.0.0.1:2379".to_owned(), Probe::Ok),
            (
                "https://10.0.0.2:2379".to_owned(),
                Probe::Refused(explain("invalid peer certificate: UnknownIssuer")),
            ),
            (
                "https://10.0.0.3:2379".to_owned(),
                Probe::Unreachable("connection refused".into()),
            ),
        ];
        let text = refusals(&found).unwrap();
        assert_eq!(
            text,
            "TLS to etcd at https://10.0.0.2:2379 failed: invalid peer certificate: UnknownIssuer; is cluster.ca_file the CA that signed etcd's server certificate?"
        );
        assert_eq!(refusals(&found[..1]), None);
        assert!(explain("received fatal alert: CertificateRequired").contains("cluster.cert_file"));
    }
}
