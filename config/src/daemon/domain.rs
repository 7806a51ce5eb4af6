//! `[resolver] domain`: the sandboxes' own DNS domain, checked.

/// The default of [`super::ResolverConfig::domain`].
pub const DEFAULT_DOMAIN: &str = "netagent.internal";

/// Checks a `[resolver] domain` value: `""` turns the domain off (`None`);
/// otherwise a DNS name, one trailing dot allowed, returned in lower case
/// without the dot. The error names the value.
pub(super) fn check_domain(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let suggestion = format!("use a name such as {DEFAULT_DOMAIN:?}, or \"\" to turn it off");
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.is_empty() {
        return Err(format!("{value:?} is the root; {suggestion}"));
    }
    if let Err(err) = crate::check_dns_name(name, "") {
        // The error starts with its origin, empty here, and ": ".
        let text = err.to_string();
        let reason = text.strip_prefix(": ").unwrap_or(&text);
        return Err(format!("{reason}; {suggestion}"));
    }
    let top = name.rsplit('.').next().unwrap_or_default();
    for (reserved, why) in [
        ("arpa", "reverse lookups live under it"),
        ("localhost", "RFC 6761 keeps it for the loopback address"),
    ] {
        if top.eq_ignore_ascii_case(reserved) {
            return Err(format!(
                "{value:?} is under .{reserved}, which the resolver must not answer for \
                 ({why}); {suggestion}"
            ));
        }
    }
    Ok(Some(name.to_ascii_lowercase()))
}
