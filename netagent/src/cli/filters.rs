//! `--filter KEY=VALUE` as Docker reads it: several values of one key
//! match if any does, different keys must all match; an unknown key is
//! refused naming it (Docker: `Invalid filter 'KEY'`).

use std::collections::BTreeMap;

use super::errors::Exit;

/// The filters of one list command, by key.
#[derive(Debug, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Reads `KEY=VALUE` flags, each key one of `known`.
    pub fn parse(flags: &[String], known: &[&str]) -> Result<Filters, Exit> {
        let mut filters = BTreeMap::<String, Vec<String>>::new();
        for flag in flags {
            let Some((key, value)) = flag.split_once('=') else {
                return Err(Exit::new(format!(
                    "Error: bad format of filter (expected name=value): {flag}"
                )));
            };
            if !known.contains(&key) {
                return Err(Exit::new(format!(
                    "Error response from daemon: Invalid filter '{key}'"
                )));
            }
            filters
                .entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
        Ok(Filters(filters))
    }

    /// Whether a row passes: for every key given, `matches(key, value)`
    /// holds for at least one of its values.
    pub fn pass(&self, mut matches: impl FnMut(&str, &str) -> bool) -> bool {
        self.0
            .iter()
            .all(|(key, values)| values.iter().any(|value| matches(key, value)))
    }

    /// The values given for `key`.
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Docker's `label=KEY` or `label=KEY=VALUE` against a row's labels.
pub fn label_matches(labels: &BTreeMap<String, String>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((key, value)) => labels.get(key).is_some_and(|v| v == value),
        None => labels.contains_key(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_one_key_are_ored_and_keys_are_anded() {
        let flags = [
            "name=web".to_owned(),
            "name=db".into(),
            "driver=bridge".into(),
        ];
        let filters = Filters::parse(&flags, &["name", "driver"]).unwrap();
        let row = |name: &str, driver: &str| {
            let (name, driver) = (name.to_owned(), driver.to_owned());
            filters.pass(|key, value| match key {
                "name" => name.contains(value),
                _ => driver == value,
            })
        };
        assert!(row("web", "bridge"));
        assert!(row("db", "bridge"));
        assert!(!row("db", "host"));
        assert!(!row("cache", "bridge"));
    }

    #[test]
    fn unknown_keys_and_missing_values_are_refused_naming_them() {
        let err = Filters::parse(&["colour=red".to_owned()], &["name"]).unwrap_err();
        assert_eq!(
            err.message,
            "Error response from daemon: Invalid filter 'colour'"
        );
        let err = Filters::parse(&["name".to_owned()], &["name"]).unwrap_err();
        assert!(err.message.contains("name=value"), "{}", err.message);
        let labels = BTreeMap::from([("team".to_owned(), "web".to_owned())]);
        assert!(label_matches(&labels, "team") && label_matches(&labels, "team=web"));
        assert!(!label_matches(&labels, "team=db"));
    }
}
