//! `netagent dns serve` as a child process, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `netagent dns serve`.
pub struct ServeProcess {
    child: Child,
    /// Where it listens, UDP and TCP.
    pub addr: SocketAddr,
}

impl ServeProcess {
    /// Serves `table` as `sandbox` on a free loopback port, with an
    /// optional daemon config file.
    pub fn start(table: &Path, sandbox: &str, config: Option<&Path>) -> ServeProcess {
        let config_args = config.map(|c| vec!["--config".to_owned(), c.display().to_string()]);
        Self::start_with_args(table, sandbox, &config_args.unwrap_or_default())
    }

    /// Serves `table` as `sandbox` with further `dns serve` arguments.
    pub fn start_with_args(table: &Path, sandbox: &str, args: &[String]) -> ServeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_netagent"));
        command
            .args([
                "dns",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--as",
                sandbox,
                "--table",
            ])
            .arg(table);
        command.args(args);
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netagent");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        ServeProcess { child, addr }
    }

    /// The port, as dig's `-p` wants it.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `netagent` with `args` to completion: (exit success, stderr).
pub fn run_netagent(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_netagent"))
        .args(args)
        .output()
        .expect("run netagent");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
