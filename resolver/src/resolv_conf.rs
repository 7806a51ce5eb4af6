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
