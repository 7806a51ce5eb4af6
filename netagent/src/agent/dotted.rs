//! Dots in names. Docker allows them in container names
//! (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), and so does netagent, but the resolver
//! also answers `NAME.NETWORK` (each name qualified with its network,
//! resolver/src/table/zone.rs). A sandbox `x.app` on network `other` is
//! then found under the key `x.app`, the very key that means sandbox `x`
//! on network `app`: a peer asking for `x.app` gets the wrong sandbox, or
//! both merged.
//!
//! The rule: no name may end in `.NETWORK` for an existing network, and no
//! network may be named after what follows a dot in an existing name.
//! Every proper suffix after a dot counts (`x.app.more` clashes with
//! networks `app.more` and `more`), compared without case, as the
//! resolver compares. Both directions are refused (409, naming the name
//! and the network) rather than letting the exact name win in the
//! resolver: a preference there would still make `x.app` mean two things
//! depending on who asks, and the other name has a spelling that is never
//! ambiguous. Names without dots, and dotted names whose suffixes are no
//! network's (`web.v2`), stay allowed as in Docker.

use super::store::State;
use super::AgentError;

/// Each proper suffix of `name` that follows a dot, longest first:
/// `a.b.c` gives `b.c`, then `c`.
fn dotted_suffixes(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(at, _)| &name[at + 1..])
}

/// Refuses `names` (a sandbox's name, hostname and aliases) when one of
/// them ends in `.NETWORK` for a network in `state`.
pub(super) fn check_names(state: &State, names: &[&str]) -> Result<(), AgentError> {
    for name in names {
        for suffix in dotted_suffixes(name) {
            // The default bridge has no names, so nothing to clash with.
            let network = state
                .networks
                .values()
                .filter(|n| !n.builtin)
                .map(|n| &n.name)
                .find(|n| n.eq_ignore_ascii_case(suffix));
            if let Some(network) = network {
                return Err(AgentError::Conflict(format!(
                    "the name {name:?} ends in \".{network}\", the name of network \
                     {network:?}: {name} would read as {:?} on that network; \
                     choose a name without that suffix",
                    &name[..name.len() - suffix.len() - 1]
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a new network `network` named after what follows a dot in the
/// name of a sandbox, its hostname or an alias.
pub(super) fn check_network(state: &State, network: &str) -> Result<(), AgentError> {
    for sandbox in state.sandboxes.values() {
        let aliases = sandbox.endpoints.iter().flat_map(|e| e.aliases.iter());
        let names = std::iter::once(&sandbox.name)
            .chain(sandbox.spec.hostname.iter())
            .chain(aliases);
        for name in names {
            if dotted_suffixes(name).any(|s| s.eq_ignore_ascii_case(network)) {
                return Err(AgentError::Conflict(format!(
                    "a network named {network:?} would make the name {name:?} of \
                     sandbox {:?} read as a name on that network; choose another \
                     network name",
                    sandbox.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::store::{new_id, now_rfc3339, NetworkRecord, SandboxRecord};

    fn network(name: &str) -> NetworkRecord {
        NetworkRecord {
            name: name.into(),
            id: new_id(),
            created: now_rfc3339(),
            bridge: "na-0".into(),
            subnets: vec![],
            builtin: false,
            internal: false,
            ipv6: false,
            dns: vec![],
            labels: Default::default(),
            dns_only: false,
            options: Default::default(),
            user_subnets: false,
            overlay: None,
        }
    }

    fn state_with(networks: &[&str], sandboxes: &[&str]) -> State {
        let mut state = State::default();
        for name in networks {
            state.networks.insert((*name).into(), network(name));
        }
        for name in sandboxes {
            let record = SandboxRecord {
                name: (*name).into(),
                id: new_id(),
                created: now_rfc3339(),
                spec: config::SandboxSpec::named(name),
                netns: "/run/netns/x".into(),
                netns_inode: 1,
                owns_netns: true,
                shares_with: None,
                host_mode: false,
                endpoints: vec![],
                dns_mode: config::DnsMode::Redirect,
                container: None,
                ports: vec![],
                command: None,
            };
            state.sandboxes.insert((*name).into(), record);
        }
        state
    }

    #[test]
    fn suffixes_after_each_dot() {
        let found: Vec<&str> = dotted_suffixes("a.b.c").collect();
        assert_eq!(found, ["b.c", "c"]);
        assert_eq!(dotted_suffixes("plain").count(), 0);
    }

    #[test]
    fn a_name_ending_in_a_network_is_refused() {
        let state = state_with(&["app", "other", "b.c"], &[]);
        let err = check_names(&state, &["web", "x.APP"]).unwrap_err();
        assert!(
            err.to_string().contains("\"x.APP\" ends in \".app\""),
            "{err}"
        );
        assert!(check_names(&state, &["a.b.c"]).is_err(), "a dotted network");
        assert!(check_names(&state, &["web.v2", "x.application"]).is_ok());
    }

    #[test]
    fn a_network_named_after_a_suffix_is_refused() {
        let state = state_with(&["other"], &["x.app", "web"]);
        let err = check_network(&state, "app").unwrap_err();
        assert!(err.to_string().contains("\"x.app\""), "{err}");
        assert!(check_network(&state, "web").is_ok(), "a plain name is fine");
        assert!(check_network(&state, "x").is_ok(), "a prefix is fine");
    }
}
