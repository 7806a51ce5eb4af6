//! Names or ids, as Docker takes them: every verb that names a sandbox or
//! a network also takes its id or any unambiguous prefix of it, so the
//! scripts Docker users write work (`netagent rm $(netagent ps -q)`,
//! `netagent network ls -q | xargs netagent network rm`: `-q` prints
//! short ids). A name wins over an id prefix that happens to match it,
//! as in Docker.

use std::collections::BTreeMap;

use super::{Agent, AgentError};

impl Agent {
    /// The name of the sandbox `key` names: its name, its id, or a
    /// prefix of exactly one sandbox's id.
    pub async fn sandbox_name_of(&self, key: &str) -> Result<String, AgentError> {
        let inner = self.inner.lock().await;
        let ids = inner.state.sandboxes.iter().map(|(name, s)| (name, &s.id));
        resolve("sandbox", key, &inner.state.sandboxes, ids)
    }

    /// The name of the network `key` names, likewise.
    pub async fn network_name_of(&self, key: &str) -> Result<String, AgentError> {
        let inner = self.inner.lock().await;
        let ids = inner.state.networks.iter().map(|(name, n)| (name, &n.id));
        resolve("network", key, &inner.state.networks, ids)
    }
}

fn resolve<'a, T>(
    kind: &'static str,
    key: &str,
    by_name: &BTreeMap<String, T>,
    ids: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<String, AgentError> {
    if by_name.contains_key(key) {
        return Ok(key.to_owned());
    }
    let lowered = key.to_ascii_lowercase();
    let hex = !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit());
    let matching: Vec<&String> = ids
        .filter(|(_, id)| hex && id.starts_with(&lowered))
        .map(|(name, _)| name)
        .collect();
    match matching.as_slice() {
        [name] => Ok((*name).clone()),
        [] => Err(AgentError::not_found(kind, key)),
        // Docker's words.
        _ => Err(AgentError::BadInput(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("web".to_owned(), "abc123".to_owned()),
            ("db".to_owned(), "abd456".to_owned()),
            ("abc".to_owned(), "fff000".to_owned()),
        ])
    }

    fn find(key: &str) -> Result<String, AgentError> {
        let table = table();
        resolve("sandbox", key, &table, table.iter())
    }

    #[test]
    fn names_ids_and_unique_prefixes_are_found() {
        assert_eq!(find("web").unwrap(), "web");
        assert_eq!(find("abc123").unwrap(), "web");
        assert_eq!(find("ABD").unwrap(), "db", "ids compare without case");
        assert_eq!(find("abc").unwrap(), "abc", "a name wins over an id prefix");
        assert!(matches!(find("ab"), Err(AgentError::BadInput(m)) if m.contains("multiple IDs")));
        assert!(matches!(find("zzz"), Err(AgentError::NotFound { .. })));
        assert!(matches!(find(""), Err(AgentError::NotFound { .. })));
    }
}
