//! Calling CNI plugins by hand, as a runtime does: the `CNI_*` variables
//! in an otherwise empty environment, the configuration on stdin, the
//! result or error JSON on stdout. Used by the CNI contract tests, with
//! netagent's plugin (the `netagent` binary) and the standard ones.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::host::TestHost;

/// One plugin call.
pub struct CniCall<'a> {
    /// `ADD`, `DEL`, `CHECK`, `VERSION`, `STATUS`, `GC`.
    pub command: &'a str,
    /// CNI_CONTAINERID.
    pub container: &'a str,
    /// CNI_NETNS.
    pub netns: &'a str,
    /// CNI_ARGS.
    pub args: &'a str,
}

/// What a plugin answered.
#[derive(Debug)]
pub struct CniAnswer {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its stdout as JSON (`Null` when empty).
    pub json: Value,
    /// Its stderr.
    pub stderr: String,
}

impl CniCall<'_> {
    /// Runs `plugin` (a path) in the private host with `conf` on stdin.
    pub fn run(&self, host: &TestHost, plugin: &str, conf: &Value) -> CniAnswer {
        let mut child = Command::new("nsenter")
            .args(["-t", &host.pid().to_string(), "-n", "-m", "--", "env", "-i"])
            .arg(format!("CNI_COMMAND={}", self.command))
            .arg(format!("CNI_CONTAINERID={}", self.container))
            .arg(format!("CNI_NETNS={}", self.netns))
            .arg("CNI_IFNAME=eth0")
            .arg("CNI_PATH=/usr/lib/cni")
            .arg(format!("CNI_ARGS={}", self.args))
            .arg(plugin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the plugin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        CniAnswer {
            ok: out.status.success(),
            json: if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{plugin} printed no JSON ({e}): {text}"))
            },
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs netagent's plugin.
    pub fn netagent(&self, host: &TestHost, conf: &Value) -> CniAnswer {
        self.run(host, env!("CARGO_BIN_EXE_netagent"), conf)
    }
}
