//! Certificates for etcd over TLS (issue #15), made by the `openssl`
//! command (Debian's `openssl`, which .ci/run installs): what an operator
//! would run, with no crate of its own in the build. ECDSA P-256 keys,
//! valid for two days, in a temp dir that goes with the value:
//!
//! - `ca.pem`: the CA etcd trusts for clients and the hosts trust for etcd;
//! - `server.pem`/`server.key`: etcd's, for the IP address given
//!   (subjectAltName), signed by the CA;
//! - `client.pem`/`client.key`: the hosts', signed by the CA;
//! - `other-ca.pem`: a CA that signed nothing etcd has (the wrong one).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::host::OutputExt;
use super::require_program;

/// The files, in a temp dir.
pub struct Certs {
    dir: TempDir,
}

impl Certs {
    /// Makes the CA, the wrong CA, etcd's certificate for `server_ip` and
    /// the client certificate.
    pub fn make(server_ip: &str) -> Certs {
        require_program("openssl", "openssl");
        let certs = Certs {
            dir: tempfile::tempdir().expect("a directory for certificates"),
        };
        certs.ca("ca");
        certs.ca("other-ca");
        certs.leaf(
            "server",
            &format!("extendedKeyUsage=serverAuth\nsubjectAltName=IP:{server_ip}\n"),
        );
        certs.leaf("client", "extendedKeyUsage=clientAuth\n");
        certs
    }

    /// The path of `name` (`ca.pem`, `client.key`, ...).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        output.assert_ok(&format!("openssl {args:?}"));
    }

    fn ca(&self, name: &str) {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN=netagent test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    /// A key and a certificate signed by `ca`, with `extensions` besides
    /// the end-entity ones.
    fn leaf(&self, name: &str, extensions: &str) {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(
            self.dir.path().join(&ext),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"),
        )
        .unwrap();
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN=netagent test {name}"),
        ]);
        let serial = if name == "server" { "2" } else { "3" };
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ]);
    }

    /// `[cluster]`'s TLS lines: the CA, and the client certificate when
    /// `client`.
    pub fn lines(&self, ca: &Path, client: bool) -> String {
        let mut lines = format!("ca_file = {:?}\n", ca);
        if client {
            lines += &format!(
                "cert_file = {:?}\nkey_file = {:?}\n",
                self.path("client.pem"),
                self.path("client.key")
            );
        }
        lines
    }
}
