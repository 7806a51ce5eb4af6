//! dig and kdig, run for real, and their output read back.

use std::process::Command;

use super::inprocess::InProcessServer;
use super::require_program;
use super::serve::ServeProcess;

/// What dig printed, with the header fields parsed out.
#[derive(Debug)]
pub struct DigReply {
    /// The whole output, for assertion messages.
    pub text: String,
    /// `NOERROR`, `NXDOMAIN`, ...
    pub status: String,
    /// The header flags: `qr`, `aa`, `rd`, `ra`, `tc`.
    pub flags: Vec<String>,
    /// Lines of the answer section, whitespace-normalised.
    pub answer: Vec<String>,
    /// Lines of the authority section.
    pub authority: Vec<String>,
    /// Lines of the additional section.
    pub additional: Vec<String>,
    /// Whether an OPT pseudosection came back.
    pub has_opt: bool,
}

impl DigReply {
    /// Whether the header has `flag`.
    pub fn flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The last field of each answer line (the record data).
    pub fn answer_data(&self) -> Vec<String> {
        let mut data: Vec<String> = self
            .answer
            .iter()
            .filter_map(|l| l.rsplit(' ').next())
            .map(str::to_owned)
            .collect();
        data.sort();
        data
    }
}

/// A DNS server on 127.0.0.1 that a test started.
pub trait LocalServer {
    /// Its port, as dig's `-p` wants it.
    fn port(&self) -> String;
}

impl LocalServer for ServeProcess {
    fn port(&self) -> String {
        ServeProcess::port(self)
    }
}

impl LocalServer for InProcessServer {
    fn port(&self) -> String {
        InProcessServer::port(self)
    }
}

/// Runs dig against `server` with `args` (name, type and +options).
pub fn dig(server: &impl LocalServer, args: &[&str]) -> DigReply {
    require_program("dig", "dnsutils");
    let output = Command::new("dig")
        .args(["@127.0.0.1", "-p", &server.port(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("run dig");
    parse_dig(&String::from_utf8_lossy(&output.stdout))
}

/// Runs kdig against `server` with `args`; returns its output.
pub fn kdig(server: &impl LocalServer, args: &[&str]) -> String {
    require_program("kdig", "knot-dnsutils");
    let output = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &server.port(), "+time=2", "+retry=0"])
        .args(args)
        .output()
        .expect("run kdig");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads dig's output (the default, not `+short`).
pub fn parse_dig(text: &str) -> DigReply {
    let mut reply = DigReply {
        text: text.to_owned(),
        status: String::new(),
        flags: Vec::new(),
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        has_opt: text.contains("OPT PSEUDOSECTION"),
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            reply.status = rest.split(',').next().unwrap_or_default().to_owned();
        }
        if let Some(rest) = line.strip_prefix(";; flags: ") {
            reply.flags = rest
                .split(';')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        }
        if line.starts_with(";; ") && line.ends_with("SECTION:") {
            section = line;
            continue;
        }
        if line.is_empty() || line.starts_with(';') {
            if line.is_empty() {
                section = "";
            }
            continue;
        }
        let normalised = line.split_whitespace().collect::<Vec<_>>().join(" ");
        match section {
            ";; ANSWER SECTION:" => reply.answer.push(normalised),
            ";; AUTHORITY SECTION:" => reply.authority.push(normalised),
            ";; ADDITIONAL SECTION:" => reply.additional.push(normalised),
            _ => {}
        }
    }
    reply
}
