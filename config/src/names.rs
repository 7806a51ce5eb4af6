//! Checks for the names users give netagent: sandbox (container) names,
//! aliases, hostnames and network names.
//!
//! Every name that the resolver can be asked about must be a name a DNS
//! message can carry (RFC 1035 section 2.3.4: labels of 1 to 63 bytes, 255
//! bytes in all). Docker checks none of this and fails later, at query time
//! (moby#46928); netagent refuses such a name where it enters, and the error
//! names both the value and where it came from.

use thiserror::Error;

/// Longest label a DNS message can carry (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name, in presentation form without the trailing dot, that still
/// fits the 255-byte wire limit (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 253;

/// Why a name was refused. Each variant carries the offending value and the
/// place it came from (for example `endpoints[2].aliases[0]`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("{origin}: the name is empty")]
    Empty {
        /// Where the name came from.
        origin: String,
    },
    /// The name contains a character that no DNS label may hold here.
    #[error("{origin}: {value:?} contains {found:?}; names may use letters, digits, '-', '_' and '.' between labels")]
    BadCharacter {
        /// Where the name came from.
        origin: String,
        /// The offending name.
        value: String,
        /// The first character that is not allowed.
        found: char,
    },
    /// Two dots in a row, or a leading or trailing dot.
    /// A label starts with '-' (RFC 1123 section 2.1: a label starts with
    /// a letter or digit; and `-x` reads as a flag to dig and the CLI).
    #[error("{origin}: {value:?} has a label starting with '-'; names and labels start with a letter, a digit or '_'")]
    LeadingHyphen {
        /// Where the name came from.
        origin: String,
        /// The name.
        value: String,
    },
    #[error("{origin}: {value:?} has an empty label")]
    EmptyLabel {
        /// Where the name came from.
        origin: String,
        /// The offending name.
        value: String,
    },
    /// A label is longer than 63 bytes.
    #[error("{origin}: {value:?} has a label of {len} bytes; a DNS label holds at most 63")]
    LabelTooLong {
        /// Where the name came from.
        origin: String,
        /// The offending name.
        value: String,
        /// Length of the longest label.
        len: usize,
    },
    /// The whole name is longer than 253 bytes.
    #[error("{origin}: {value:?} is {len} bytes long; a DNS name holds at most 253")]
    NameTooLong {
        /// Where the name came from.
        origin: String,
        /// The offending name.
        value: String,
        /// Its length.
        len: usize,
    },
}

/// Checks that `value` can be used as a DNS name: letters, digits, `-`, `_`,
/// labels separated by single dots, each 1 to 63 bytes, 253 bytes in all.
///
/// `_` is allowed because container names use it (Docker's rule is
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`) and resolvers carry it without trouble.
pub fn check_dns_name(value: &str, origin: &str) -> Result<(), NameError> {
    check_characters(value, origin)?;
    if value.len() > MAX_NAME_LEN {
        return Err(NameError::NameTooLong {
            origin: origin.to_owned(),
            value: value.to_owned(),
            len: value.len(),
        });
    }
    if let Some(len) = value
        .split('.')
        .map(str::len)
        .find(|&len| len > MAX_LABEL_LEN)
    {
        return Err(NameError::LabelTooLong {
            origin: origin.to_owned(),
            value: value.to_owned(),
            len,
        });
    }
    Ok(())
}

/// Checks a sandbox (container) name as a container runtime would accept
/// it: the characters and labels of [`check_dns_name`], but labels and the
/// whole name may be longer than DNS allows, because runtimes hand the
/// agent such names (moby#46928). Such a sandbox keeps its other names; the
/// resolver answers SERVFAIL for a reverse lookup whose target it cannot
/// encode, and no query can ask for the over-long name itself.
pub fn check_sandbox_name(value: &str, origin: &str) -> Result<(), NameError> {
    check_characters(value, origin)
}

/// The checks both name kinds share: not empty, allowed characters only, no
/// empty labels.
fn check_characters(value: &str, origin: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty {
            origin: origin.to_owned(),
        });
    }
    if let Some(found) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameError::BadCharacter {
            origin: origin.to_owned(),
            value: value.to_owned(),
            found,
        });
    }
    if value.split('.').any(str::is_empty) {
        return Err(NameError::EmptyLabel {
            origin: origin.to_owned(),
            value: value.to_owned(),
        });
    }
    if value.split('.').any(|label| label.starts_with('-')) {
        return Err(NameError::LeadingHyphen {
            origin: origin.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["web", "web-1", "my_db", "a.b.c", "X9", &"a".repeat(63)] {
            assert_eq!(check_dns_name(name, "test"), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_each_bad_shape_naming_value_and_origin() {
        let long_label = "a".repeat(64);
        let long_name = ["abcdefghij"; 24].join(".");
        let cases: [(&str, &str); 9] = [
            ("", "is empty"),
            ("my web", "contains ' '"),
            ("a,b", "contains ','"),
            ("a..b", "has an empty label"),
            (".a", "has an empty label"),
            ("-web", "starting with '-'"),
            ("web.-app", "starting with '-'"),
            (&long_label, "label of 64 bytes"),
            (&long_name, "263 bytes long"),
        ];
        for (value, expected) in cases {
            let err = check_dns_name(value, "aliases[1]").unwrap_err().to_string();
            assert!(err.starts_with("aliases[1]: "), "{err}");
            assert!(err.contains(expected), "{value:?}: {err}");
            if !value.is_empty() {
                assert!(err.contains(&format!("{value:?}")), "{err}");
            }
        }
    }

    #[test]
    fn sandbox_names_may_have_long_labels_but_not_bad_characters() {
        assert_eq!(check_sandbox_name(&"c".repeat(80), "sandbox"), Ok(()));
        assert!(check_sandbox_name("a b", "sandbox").is_err());
        assert!(check_sandbox_name("a..b", "sandbox").is_err());
    }
}
