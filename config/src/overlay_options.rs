//! An overlay network's driver options (`network create -d overlay -o
//! KEY=VALUE`), with Docker's keys (moby's `libnetwork/drivers/overlay`):
//! the MTU, as a bridge network takes it ([`crate::bridge_options`]), and
//! the VXLAN id. `encrypted` is refused: netagent has no IPsec. Any other
//! key, or a value its key does not take, is refused naming it.

use std::collections::BTreeMap;

use crate::bridge_options::{mtu, MTU};
use crate::ConfigError;

/// Docker's VXLAN ids of an overlay network, one per subnet, comma
/// separated.
pub const VXLANID_LIST: &str = "com.docker.network.driver.overlay.vxlanid_list";
/// Docker's IPsec between hosts (`--opt encrypted`).
pub const ENCRYPTED: &str = "encrypted";

/// The largest VXLAN id: the VNI field is 24 bits (RFC 7348 section 5).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// The options of one overlay network; `None` where the cluster chooses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayOptions {
    /// The MTU of every host's VXLAN device, bridge and veths.
    pub mtu: Option<u32>,
    /// The VXLAN id.
    pub vni: Option<u32>,
}

impl OverlayOptions {
    /// Reads `-o` of an overlay network; every problem is reported, each
    /// naming its key and value.
    pub fn parse(options: &BTreeMap<String, String>) -> Result<OverlayOptions, Vec<ConfigError>> {
        let mut parsed = OverlayOptions::default();
        let mut errors = Vec::new();
        for (key, value) in options {
            let result = match key.as_str() {
                MTU => mtu(value).map(|mtu| parsed.mtu = Some(mtu)),
                VXLANID_LIST => vni(value).map(|vni| parsed.vni = Some(vni)),
                ENCRYPTED => Err(format!(
                    "{ENCRYPTED:?} is not supported: netagent has no IPsec, so VXLAN traffic between hosts is not encrypted; keep the underlay private or encrypt beneath it (WireGuard)"
                )),
                _ => Err(format!(
                    "unknown option {key:?} for an overlay network; known: {MTU}, {VXLANID_LIST}"
                )),
            };
            if let Err(message) = result {
                errors.push(ConfigError::new(format!("options[{key}]"), message));
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }
}

/// One VXLAN id: Docker takes one per subnet and an overlay network here
/// has one subnet.
fn vni(value: &str) -> Result<u32, String> {
    if value.contains(',') {
        return Err(format!(
            "{value:?} lists several VXLAN ids; an overlay network here has one subnet and takes one id"
        ));
    }
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| (1..=MAX_VNI).contains(v))
        .ok_or_else(|| format!("{value:?} is not a VXLAN id from 1 to {MAX_VNI}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mtu_and_vni_are_read() {
        let parsed = OverlayOptions::parse(&options(&[(MTU, "1400"), (VXLANID_LIST, "5000")]));
        assert_eq!(
            parsed.unwrap(),
            OverlayOptions {
                mtu: Some(1400),
                vni: Some(5000)
            }
        );
        assert_eq!(
            OverlayOptions::parse(&BTreeMap::new()).unwrap(),
            OverlayOptions::default()
        );
    }

    #[test]
    fn encrypted_bad_values_and_unknown_keys_are_named() {
        let errors = OverlayOptions::parse(&options(&[
            (ENCRYPTED, ""),
            (MTU, "40"),
            (VXLANID_LIST, "4097,4098"),
            ("com.docker.network.bridge.enable_icc", "false"),
        ]))
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        for expected in [
            "options[encrypted]: \"encrypted\" is not supported: netagent has no IPsec",
            "\"40\" is not an MTU",
            "\"4097,4098\" lists several VXLAN ids",
            "unknown option \"com.docker.network.bridge.enable_icc\" for an overlay network",
        ] {
            assert!(text.contains(expected), "{expected} missing in {text}");
        }
        let too_big = OverlayOptions::parse(&options(&[(VXLANID_LIST, "16777216")]));
        assert!(too_big.unwrap_err()[0]
            .message
            .contains("from 1 to 16777215"));
    }
}
