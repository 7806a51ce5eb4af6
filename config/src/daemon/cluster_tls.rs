//! `[cluster]`'s TLS lines (`ca_file`, `cert_file`, `key_file`): checked
//! against the endpoints when the file is parsed, and the files themselves
//! read when it is loaded ([`ClusterConfig::check_files`]), so a missing or
//! wrong file is refused at start naming its path, not found out at the
//! first overlay command.
//!
//! The etcd client (etcd-client over tonic and rustls) takes TLS for every
//! endpoint or for none, and trusts no system CA: an `https://` endpoint
//! needs `ca_file`.

use std::path::{Path, PathBuf};

use super::ClusterConfig;
use crate::ConfigError;

/// What PEM blocks a file must hold.
#[derive(Debug, Clone, Copy)]
enum Pem {
    /// One or more certificates (`ca_file`, `cert_file`).
    Certificate,
    /// One private key, PKCS#8, PKCS#1 or SEC1 (`key_file`).
    Key,
}

/// The problems of the TLS lines given `endpoints`; `files` are `ca_file`,
/// `cert_file` and `key_file` in that order.
pub(super) fn problems(endpoints: &[String], files: [&Option<PathBuf>; 3]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (key, file) in KEYS.iter().zip(files) {
        if let Some(path) = file.as_ref().filter(|p| !p.is_absolute()) {
            errors.push(ConfigError::new(
                format!("cluster.{key}"),
                format!("{} is not an absolute path", path.display()),
            ));
        }
    }
    let https = endpoints.iter().filter(|u| u.starts_with("https://"));
    let http = endpoints.iter().find(|u| u.starts_with("http://"));
    match (https.clone().next(), http) {
        (Some(secure), Some(plain)) => errors.push(ConfigError::new(
            "cluster.endpoints",
            format!("{secure} is https:// but {plain} is not; the etcd client takes TLS for every endpoint or for none"),
        )),
        (Some(secure), None) if files[0].is_none() => errors.push(ConfigError::new(
            "cluster.ca_file",
            format!("is missing; {secure} is https:// and needs the CA that signed etcd's server certificate (no system CA is trusted for etcd)"),
        )),
        (None, Some(plain)) => {
            for (key, _) in KEYS.iter().zip(files).filter(|(_, f)| f.is_some()) {
                errors.push(ConfigError::new(
                    format!("cluster.{key}"),
                    format!("is given but {plain} is http://; TLS needs https:// endpoints"),
                ));
            }
        }
        _ => {}
    }
    errors
}

const KEYS: [&str; 3] = ["ca_file", "cert_file", "key_file"];

impl ClusterConfig {
    /// Reads the TLS files the section names: each must be readable and
    /// hold what its key says (certificates, or a private key). Every
    /// problem names the key and the path.
    pub fn check_files(&self) -> Vec<ConfigError> {
        let files = [
            (KEYS[0], &self.ca_file, Pem::Certificate),
            (KEYS[1], &self.cert_file, Pem::Certificate),
            (KEYS[2], &self.key_file, Pem::Key),
        ];
        files
            .into_iter()
            .filter_map(|(key, path, pem)| {
                let path = path.as_ref()?;
                check_file(path, pem)
                    .err()
                    .map(|message| ConfigError::new(format!("cluster.{key}"), message))
            })
            .collect()
    }
}

/// Whether `path` is readable and holds `pem`; the problem in words.
fn check_file(path: &Path, pem: Pem) -> Result<(), String> {
    let text =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let text = String::from_utf8_lossy(&text);
    let (wanted, found) = match pem {
        Pem::Certificate => (
            "a PEM certificate (-----BEGIN CERTIFICATE-----)",
            text.contains("-----BEGIN CERTIFICATE-----"),
        ),
        Pem::Key => (
            "a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
            text.lines()
                .any(|l| l.starts_with("-----BEGIN ") && l.ends_with("PRIVATE KEY-----")),
        ),
    };
    if found {
        Ok(())
    } else {
        Err(format!("{} does not hold {wanted}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use crate::DaemonConfig;

    const BASE: &str = "[cluster]\nhost = \"n1\"\nadvertise = \"10.0.0.11\"\n";

    fn parse(extra: &str) -> Result<DaemonConfig, String> {
        DaemonConfig::parse(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn https_needs_a_ca_and_tls_needs_https() {
        let err = parse("endpoints = [\"https://10.0.0.1:2379\"]\n").unwrap_err();
        assert!(
            err.contains("cluster.ca_file: is missing; https://10.0.0.1:2379"),
            "{err}"
        );
        let err =
            parse("endpoints = [\"http://10.0.0.1:2379\"]\nca_file = \"/ca.pem\"\n").unwrap_err();
        assert!(
            err.contains("cluster.ca_file: is given but http://10.0.0.1:2379"),
            "{err}"
        );
        let err = parse(
            "endpoints = [\"https://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]\nca_file = \"/ca.pem\"\n",
        )
        .unwrap_err();
        assert!(err.contains("every endpoint or for none"), "{err}");
        let err =
            parse("endpoints = [\"https://10.0.0.1:2379\"]\nca_file = \"ca.pem\"\n").unwrap_err();
        assert!(err.contains("ca.pem is not an absolute path"), "{err}");
        let ok = parse("endpoints = [\"https://10.0.0.1:2379\"]\nca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"\nkey_file = \"/c.key\"\n").unwrap();
        assert_eq!(
            ok.cluster.unwrap().key_file.unwrap().to_str(),
            Some("/c.key")
        );
    }

    #[test]
    fn loading_reads_the_files_and_names_each_bad_one() {
        let dir = std::env::temp_dir().join(format!("netagent-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        let key = dir.join("client.key");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        // A certificate where the key should be.
        std::fs::write(
            &key,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.join("missing.pem");
        let file = dir.join("netagent.toml");
        let text = format!(
            "{BASE}endpoints = [\"https://10.0.0.1:2379\"]\nca_file = {ca:?}\ncert_file = {missing:?}\nkey_file = {key:?}\n"
        );
        std::fs::write(&file, text).unwrap();
        let err = DaemonConfig::load(&file).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        for needle in [
            format!("cluster.cert_file: cannot read {}", missing.display()),
            format!(
                "cluster.key_file: {} does not hold a PEM private key",
                key.display()
            ),
        ] {
            assert!(err.contains(&needle), "{needle} not in {err}");
        }
        assert!(!err.contains("cluster.ca_file"), "{err}");
    }
}
