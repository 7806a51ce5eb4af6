//! Reading resolv.conf(5): the host's upstream servers, search domains and
//! options.
//!
//! Like the C library, the reader is forgiving: comments (`#` or `;`),
//! unknown keywords and blank lines are skipped; a `nameserver` line it
//! cannot use (a name instead of an address, an unknown `%interface`) is
//! skipped with a warning rather than failing the whole file. Unlike the C
//! library it keeps more than three servers (glibc's MAXNS), since the
//! forwarder fails over between all of them.

use config::NameServer;

/// What a resolv.conf says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order, port 53.
    pub nameservers: Vec<NameServer>,
    /// The search list: the last `search` or `domain` line wins (resolv.conf(5)).
    pub search: Vec<String>,
    /// Every option of every `options` line, in order.
    pub options: Vec<String>,
    /// Lines that were skipped, each with its line number and why.
    pub warnings: Vec<String>,
}

impl ResolvConf {
    /// Parses the text of a resolv.conf.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or_default();
            let rest: Vec<&str> = words
                .take_while(|w| !w.starts_with('#') && !w.starts_with(';'))
                .collect();
            match keyword {
                "nameserver" => conf.add_nameserver(number + 1, &rest),
                "search" | "domain" => {
                    conf.search = rest
                        .iter()
                        .map(|s| s.trim_end_matches('.').to_owned())
                        .collect()
                }
                "options" => conf.options.extend(rest.iter().map(|s| (*s).to_owned())),
                _ => {}
            }
        }
        conf
    }

    fn add_nameserver(&mut self, line: usize, words: &[&str]) {
        let [address] = words else {
            self.warnings.push(format!(
                "line {line}: nameserver takes one address, got {words:?}"
            ));
            return;
        };
        match address.parse::<NameServer>() {
            Ok(server) if address.parse::<std::net::SocketAddr>().is_ok() => {
                // resolv.conf has no port syntax; `1.2.3.4:53` is not an address there.
                self.warnings.push(format!(
                    "line {line}: {server} has a port, which resolv.conf does not allow"
                ));
            }
            Ok(server) => self.nameservers.push(server),
            Err(err) => self.warnings.push(format!("line {line}: {err}")),
        }
    }
}

/// The resolv.conf a sandbox gets, written the way Docker transforms the
/// host's file (moby `sandbox_dns_unix.go`), so that the C library and
/// every stub resolver in the sandbox use the right server.
#[derive(Debug, Clone)]
pub struct SandboxResolvConf<'a> {
    /// The host's resolv.conf, parsed.
    pub host: &'a ResolvConf,
    /// Where the host's file is, for the comment.
    pub host_path: &'a str,
    /// Whether the sandbox has the embedded resolver (it is on a
    /// user-defined network). Without it (the default bridge) the upstream
    /// servers themselves are written in.
    pub embedded: bool,
    /// The sandbox's own servers (`--dns`), which replace the host's.
    pub dns: &'a [NameServer],
    /// `--dns-search`, which replaces the host's search list.
    pub dns_search: &'a [String],
    /// The sandboxes' own domain (`[resolver] domain`), or `None` when it
    /// is turned off. With the embedded resolver it comes first in the
    /// search list.
    pub domain: Option<&'a str>,
    /// `--dns-option`, which replaces the host's options.
    pub dns_options: &'a [String],
}

pub use config::EMBEDDED_RESOLVER;

impl SandboxResolvConf<'_> {
    /// The file's text.
    ///
    /// - With the embedded resolver: `nameserver 127.0.0.11`, and the real
    ///   upstreams recorded in an `# ExtServers:` comment (where the agent
    ///   sends what it does not answer).
    /// - Without it: the sandbox's `--dns` servers, else the host's, less
    ///   loopback ones, which mean nothing inside another namespace.
    /// - `search` and `options` from the host unless replaced; `ndots:0`
    ///   added with the embedded resolver unless an ndots is set, so a
    ///   single-label container name is asked as it is first (Docker does the
    ///   same).
    /// - With the embedded resolver and a domain, the domain first in the
    ///   search list, before the host's or `--dns-search`'s (once): busybox's
    ///   `nslookup web` never asks `web` itself, only `web.<search domain>`
    ///   (each of them since busybox 1.30, the first only in older ones),
    ///   and the resolver answers `web.<domain>` as `web` (podman puts
    ///   `dns.podman` first for the same reason).
    pub fn render(&self) -> String {
        let upstreams: Vec<NameServer> = if self.dns.is_empty() {
            self.host.nameservers.clone()
        } else {
            self.dns.to_vec()
        };
        let given = if self.dns_search.is_empty() {
            &self.host.search
        } else {
            self.dns_search
        };
        let domain = self.domain.filter(|d| self.embedded && !d.is_empty());
        let search: Vec<&str> = domain
            .into_iter()
            .chain(
                given
                    .iter()
                    .map(String::as_str)
                    .filter(|s| domain.is_none_or(|d| !s.eq_ignore_ascii_case(d))),
            )
            .collect();
        let mut options: Vec<String> = if self.dns_options.is_empty() {
            self.host.options.clone()
        } else {
            self.dns_options.to_vec()
        };
        if self.embedded && !options.iter().any(|o| o.starts_with("ndots:")) {
            options.insert(0, "ndots:0".to_owned());
        }
        let mut out = String::from("# Generated by netagent.\n");
        if self.embedded {
            out.push_str(&format!("nameserver {EMBEDDED_RESOLVER}\n"));
        } else {
            for server in upstreams.iter().filter(|s| !s.0.ip().is_loopback()) {
                out.push_str(&format!("nameserver {server}\n"));
            }
        }
        if !search.is_empty() {
            out.push_str(&format!("search {}\n", search.join(" ")));
        }
        if !options.is_empty() {
            out.push_str(&format!("options {}\n", options.join(" ")));
        }
        out.push_str(&format!("\n# Based on host file: '{}'", self.host_path));
        if self.embedded {
            let origin = if self.dns.is_empty() {
                "host"
            } else {
                "sandbox"
            };
            let list: Vec<String> = upstreams.iter().map(|s| format!("{origin}({s})")).collect();
            out.push_str(&format!(
                " (embedded resolver)\n# ExtServers: [{}]\n",
                list.join(" ")
            ));
        } else {
            out.push_str(" (no embedded resolver)\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_servers_search_and_options_skipping_what_it_cannot_use() {
        let conf = ResolvConf::parse(
            "# generated\n; also a comment\nnameserver 127.0.0.53\nnameserver fd00::1 # trailing\n\
             nameserver fe80::1%lo\nnameserver dns.example\nnameserver\nnameserver 10.0.0.1:53\n\
             domain old.example\nsearch corp.example. lab.example\noptions ndots:2 edns0\noptions rotate\n\
             sortlist 130.155.160.0/255.255.240.0\n",
        );
        let servers: Vec<String> = conf.nameservers.iter().map(ToString::to_string).collect();
        assert_eq!(servers, ["127.0.0.53", "fd00::1", "fe80::1%1"]);
        assert_eq!(conf.search, ["corp.example", "lab.example"]);
        assert_eq!(conf.options, ["ndots:2", "edns0", "rotate"]);
        assert_eq!(conf.warnings.len(), 3, "{:?}", conf.warnings);
        assert!(
            conf.warnings[0].starts_with("line 6: \"dns.example\""),
            "{:?}",
            conf.warnings
        );
    }

    #[test]
    fn empty_file_has_no_servers() {
        assert_eq!(ResolvConf::parse(""), ResolvConf::default());
    }
}

#[cfg(test)]
mod golden {
    //! Golden files: `testdata/resolv_conf/CASE.host` in,
    //! `testdata/resolv_conf/CASE.want` out. Set `NETAGENT_BLESS=1` to
    //! rewrite the `.want` files after a deliberate change.

    use super::*;

    fn case(name: &str, host_file: &str, make: impl Fn(&ResolvConf) -> String) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/resolv_conf");
        let host = ResolvConf::parse(&std::fs::read_to_string(dir.join(host_file)).unwrap());
        let got = make(&host);
        let want_path = dir.join(format!("{name}.want"));
        if std::env::var_os("NETAGENT_BLESS").is_some() {
            std::fs::write(&want_path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&want_path).unwrap_or_default();
        assert_eq!(got, want, "{name}: got\n{got}");
    }

    fn conf<'a>(host: &'a ResolvConf, embedded: bool) -> SandboxResolvConf<'a> {
        SandboxResolvConf {
            host,
            host_path: "/etc/resolv.conf",
            embedded,
            dns: &[],
            dns_search: &[],
            dns_options: &[],
            domain: Some("netagent.internal"),
        }
    }

    #[test]
    fn embedded_resolver_keeps_search_and_options_and_adds_ndots() {
        case("systemd-embedded", "systemd.host", |host| {
            conf(host, true).render()
        });
    }

    #[test]
    fn the_domain_comes_first_once_and_not_when_turned_off() {
        case("domain-off-embedded", "systemd.host", |host| {
            SandboxResolvConf {
                domain: None,
                ..conf(host, true)
            }
            .render()
        });
        case("domain-listed-embedded", "domain.host", |host| {
            conf(host, true).render()
        });
        case("domain-bridge", "domain.host", |host| {
            conf(host, false).render()
        });
    }

    #[test]
    fn an_ndots_already_set_is_kept() {
        case("plain-embedded", "plain.host", |host| {
            conf(host, true).render()
        });
    }

    #[test]
    fn default_bridge_gets_the_upstreams_less_loopback() {
        case("systemd-bridge", "systemd.host", |host| {
            conf(host, false).render()
        });
        case("plain-bridge", "plain.host", |host| {
            conf(host, false).render()
        });
    }

    #[test]
    fn dns_flags_replace_the_hosts_servers_search_and_options() {
        let dns: Vec<NameServer> = vec!["10.9.9.9".parse().unwrap()];
        let search = vec!["svc.example".to_owned()];
        let options = vec!["attempts:1".to_owned()];
        case("flags-embedded", "plain.host", |host| {
            SandboxResolvConf {
                dns: &dns,
                dns_search: &search,
                dns_options: &options,
                ..conf(host, true)
            }
            .render()
        });
        case("flags-bridge", "plain.host", |host| {
            SandboxResolvConf {
                dns: &dns,
                dns_search: &search,
                dns_options: &options,
                ..conf(host, false)
            }
            .render()
        });
    }
}
