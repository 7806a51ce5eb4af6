//! The views' JSON, byte for byte: what the API wrote before its bodies
//! became [`crate::daemon::api::model`]'s types, and what the CLI decodes
//! again into the same types. Issue #13 only added fields (network ls:
//! `created`, `labels`, the `host` and `none` rows; sandboxes: the spec's
//! `ip6`, `mac_address`, `extra_hosts`, and `command`, `running`,
//! `hosts_file`, `hostname_file`) and set `Attachable` on user networks.

use std::collections::BTreeMap;

use config::{DnsMode, NetworkMode, SandboxSpec};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::agent::store::SubnetRecord;

const NETWORK_ID: &str = "abababababababababababababababababababababababababababababababab";
const WEB_ID: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
const SIDE_ID: &str = "1212121212121212121212121212121212121212121212121212121212121212";
const ENDPOINT_ID: &str = "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef";

/// A dual-stack internal network `app` with `web` on it, and `side`
/// sharing `web`'s namespace.
fn fixture() -> State {
    let mut state = State::default();
    state.networks.insert(
        "app".into(),
        NetworkRecord {
            name: "app".into(),
            id: NETWORK_ID.into(),
            created: "2026-01-02T03:04:05Z".into(),
            bridge: "na-abababababab".into(),
            subnets: vec![
                SubnetRecord {
                    subnet: "10.1.0.0/24".parse().unwrap(),
                    gateway: "10.1.0.1".parse().unwrap(),
                    ip_range: None,
                    aux: vec![],
                },
                SubnetRecord {
                    subnet: "fd00:1::/64".parse().unwrap(),
                    gateway: "fd00:1::1".parse().unwrap(),
                    ip_range: None,
                    aux: vec![],
                },
            ],
            builtin: false,
            internal: true,
            ipv6: true,
            dns: vec!["9.9.9.9".parse().unwrap()],
            labels: BTreeMap::from([("demo".to_owned(), "yes".to_owned())]),
            dns_only: false,
            options: Default::default(),
            user_subnets: true,
            overlay: None,
        },
    );
    let mut spec = SandboxSpec::named("web");
    spec.network = NetworkMode::Network("app".into());
    spec.expose = vec!["http=80/tcp".parse().unwrap()];
    spec.aliases = vec!["www".into()];
    let web = SandboxRecord {
        name: "web".into(),
        id: WEB_ID.into(),
        created: "2026-01-02T03:04:06Z".into(),
        spec,
        netns: "/run/netns/web".into(),
        netns_inode: 4026532000,
        owns_netns: true,
        shares_with: None,
        host_mode: false,
        endpoints: vec![EndpointRecord {
            network: "app".into(),
            id: ENDPOINT_ID.into(),
            ifname: "eth0".into(),
            host_veth: "veth01234567".into(),
            ipv4: Some("10.1.0.2".parse().unwrap()),
            ipv6: Some("fd00:1::2".parse().unwrap()),
            mac: Some("02:42:0a:01:00:02".into()),
            aliases: vec!["www".into()],
            services: vec!["http=80/tcp".parse().unwrap()],
        }],
        dns_mode: DnsMode::Redirect,
        container: None,
        ports: vec![],
        command: None,
    };
    let mut side = web.clone();
    side.name = "side".into();
    side.id = SIDE_ID.into();
    side.spec = SandboxSpec::named("side");
    side.spec.network = NetworkMode::Container("web".into());
    side.shares_with = Some("web".into());
    side.endpoints = vec![];
    side.owns_netns = false;
    state.sandboxes.insert("web".into(), web);
    state.sandboxes.insert("side".into(), side);
    state
}

/// `value` serializes to `expected` (with the fixture's ids put in), and
/// `expected` decodes to `value` again.
fn assert_wire<T>(value: &T, expected: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let expected = expected
        .replace("NETWORK_ID", NETWORK_ID)
        .replace("WEB_ID", WEB_ID)
        .replace("SIDE_ID", SIDE_ID)
        .replace("ENDPOINT_ID", ENDPOINT_ID);
    assert_eq!(serde_json::to_string(value).unwrap(), expected);
    assert_eq!(&serde_json::from_str::<T>(&expected).unwrap(), value);
}

#[test]
fn network_ls_is_as_before() {
    assert_wire(&network_list(&fixture()), LIST);
}

#[test]
fn network_inspect_is_docker_shaped_and_as_before() {
    let state = fixture();
    assert_wire(&network_inspect(&state, &state.networks["app"]), INSPECT);
}

#[test]
fn sandbox_views_are_as_before() {
    let state = fixture();
    let web = sandbox_view(
        state.sandboxes["web"].clone(),
        "/run/netagent/resolv/web.conf".into(),
        Some(40000),
    );
    assert_wire(&web, SANDBOX);
    assert_wire(&web.endpoints[0], ENDPOINT);
    let side = sandbox_view(
        state.sandboxes["side"].clone(),
        "/run/netagent/resolv/side.conf".into(),
        None,
    );
    assert_wire(&side, SIDE);
}

#[test]
fn an_endpoint_view_is_the_record_as_stored() {
    let record = fixture().sandboxes["web"].endpoints[0].clone();
    assert_eq!(
        serde_json::to_value(endpoint_view(record.clone())).unwrap(),
        serde_json::to_value(record).unwrap()
    );
}

#[test]
fn the_small_bodies_are_as_before() {
    let result = crate::agent::lookup::LookupResult {
        rcode: "NOERROR".into(),
        answers: vec!["10.1.0.2".into()],
        truncated: false,
    };
    assert_wire(
        &lookup_answer(result),
        r#"{"rcode":"NOERROR","answers":["10.1.0.2"],"truncated":false}"#,
    );
    let pruned = crate::daemon::api::model::Pruned {
        removed: vec!["app".into()],
    };
    assert_wire(&pruned, r#"{"removed":["app"]}"#);
    let error = crate::daemon::api::model::ErrorBody {
        message: "no network named \"absent\"".into(),
    };
    assert_wire(&error, r#"{"message":"no network named \"absent\""}"#);
}

const LIST: &str = r#"[{"id":"NETWORK_ID","name":"app","driver":"bridge","scope":"local","subnets":["10.1.0.0/24","fd00:1::/64"],"internal":true,"sandboxes":1,"created":"2026-01-02T03:04:05Z","labels":{"demo":"yes"}},{"id":"d1f2db89eed757e9c9602c7867eee2bec78916643883f18f6a7c5965cc66d63c","name":"host","driver":"host","scope":"local","subnets":[],"internal":false,"sandboxes":0,"created":"","labels":{}},{"id":"5e1eda593660d841c7f63d66bd36fbce700035577621809b81a49a7814983308","name":"none","driver":"null","scope":"local","subnets":[],"internal":false,"sandboxes":0,"created":"","labels":{}}]"#;
const INSPECT: &str = r#"{"Attachable":true,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{"WEB_ID":{"EndpointID":"ENDPOINT_ID","IPv4Address":"10.1.0.2/24","IPv6Address":"fd00:1::2/64","MacAddress":"02:42:0a:01:00:02","Name":"web"}},"Created":"2026-01-02T03:04:05Z","Driver":"bridge","EnableIPv6":true,"IPAM":{"Config":[{"Gateway":"10.1.0.1","Subnet":"10.1.0.0/24"},{"Gateway":"fd00:1::1","Subnet":"fd00:1::/64"}],"Driver":"default","Options":{}},"Id":"NETWORK_ID","Ingress":false,"Internal":true,"Labels":{"demo":"yes"},"Name":"app","Options":{"com.docker.network.bridge.name":"na-abababababab"},"Scope":"local"}"#;
const SANDBOX: &str = r#"{"name":"web","id":"WEB_ID","created":"2026-01-02T03:04:06Z","spec":{"name":"web","network":{"network":"app"},"aliases":["www"],"hostname":null,"ip":null,"dns":[],"dns_search":[],"dns_options":[],"expose":["http=80/tcp"],"publish":[],"publish_all":false,"adopt":null,"ip6":null,"mac_address":null,"extra_hosts":[]},"netns":"/run/netns/web","netns_inode":4026532000,"owns_netns":true,"shares_with":null,"host_mode":false,"endpoints":[{"network":"app","id":"ENDPOINT_ID","ifname":"eth0","host_veth":"veth01234567","ipv4":"10.1.0.2","ipv6":"fd00:1::2","mac":"02:42:0a:01:00:02","aliases":["www"],"services":["http=80/tcp"]}],"dns_mode":"redirect","resolv_conf":"/run/netagent/resolv/web.conf","resolver_port":40000,"ports":[],"command":null,"running":false,"hosts_file":"/run/netagent/resolv/hosts","hostname_file":"/run/netagent/resolv/hostname"}"#;
const SIDE: &str = r#"{"name":"side","id":"SIDE_ID","created":"2026-01-02T03:04:06Z","spec":{"name":"side","network":{"container":"web"},"aliases":[],"hostname":null,"ip":null,"dns":[],"dns_search":[],"dns_options":[],"expose":[],"publish":[],"publish_all":false,"adopt":null,"ip6":null,"mac_address":null,"extra_hosts":[]},"netns":"/run/netns/web","netns_inode":4026532000,"owns_netns":false,"shares_with":"web","host_mode":false,"endpoints":[],"dns_mode":"redirect","resolv_conf":"/run/netagent/resolv/side.conf","resolver_port":null,"ports":[],"command":null,"running":false,"hosts_file":"/run/netagent/resolv/hosts","hostname_file":"/run/netagent/resolv/hostname"}"#;
const ENDPOINT: &str = r#"{"network":"app","id":"ENDPOINT_ID","ifname":"eth0","host_veth":"veth01234567","ipv4":"10.1.0.2","ipv6":"fd00:1::2","mac":"02:42:0a:01:00:02","aliases":["www"],"services":["http=80/tcp"]}"#;
