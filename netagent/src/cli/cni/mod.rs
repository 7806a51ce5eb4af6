//! The CNI plugin (CNI spec 1.0.0, with 1.1.0's STATUS and GC): the
//! `netagent` binary run by a runtime with `CNI_COMMAND` set. It is a
//! short-lived client of the running agent, like the CLI: it turns the
//! runtime's environment and configuration into one API call and the
//! agent's answer into a CNI result, and never changes the kernel itself,
//! so every undo and every record stays in the agent (DESIGN.md, seam 9).
//!
//! The same binary serves as the plugin rather than a second one: one
//! thing to install and upgrade, and the plugin and the agent can never
//! disagree on the API's types. Install it with
//! `ln -s /usr/local/bin/netagent /opt/cni/bin/netagent`.
//!
//! - [`conf`]: the network configuration and the `CNI_*` environment.
//! - [`result`]: results and errors in the runtime's version.
//!
//! Two uses:
//! - the network's main plugin, `{"type": "netagent", "network": "app"}`:
//!   ADD attaches the namespace to netagent network `app` (bridge, IPAM,
//!   veth, resolver);
//! - chained after plugins that give addresses (`bridge` + `host-local`):
//!   ADD records the container's names and addresses on a DNS-only network
//!   named after the CNI network and injects the resolver.

pub mod conf;
pub mod result;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use config::{ContainerSpec, Door, Joining};
use ipnet::IpNet;
use serde_json::{json, Value};

use super::args::DEFAULT_SOCKET;
use super::client::{encode, Client, Refused, Unreachable};
use crate::daemon::api::model::{ContainerView, GcReport, GcRequest};
use conf::{CniEnv, NetConf, MAX_CONF_BYTES};
use result::{CniError, AGENT_REFUSED, SUPPORTED_VERSIONS};

/// Runs one plugin call: reads the environment and stdin, prints the
/// result or the error JSON on stdout, and exits 0 or 1 (CNI spec).
pub fn main() -> ExitCode {
    let env = match CniEnv::read(|name| std::env::var(name).ok()) {
        Ok(env) => env,
        Err(err) => return fail("1.0.0", &err),
    };
    let mut stdin = Vec::new();
    if let Err(err) = std::io::stdin()
        .take(MAX_CONF_BYTES)
        .read_to_end(&mut stdin)
    {
        return fail("1.0.0", &CniError::new(5, "cannot read stdin", err));
    }
    if env.command == "VERSION" {
        return print(&version_answer(&stdin));
    }
    let conf = match NetConf::parse(&stdin) {
        Ok(conf) => conf,
        Err(err) => return fail("1.0.0", &err),
    };
    let version = if conf.cni_version.is_empty() {
        "1.0.0".to_owned()
    } else {
        conf.cni_version.clone()
    };
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        let err = CniError::new(
            1,
            format!("CNI version {version:?} is not supported"),
            format!("supported: {}", SUPPORTED_VERSIONS.join(", ")),
        );
        return fail(&version, &err);
    }
    match run(&env, &conf, &version) {
        Ok(Some(answer)) => print(&answer),
        Ok(None) => ExitCode::SUCCESS,
        Err(err) => fail(&version, &err),
    }
}

fn run(env: &CniEnv, conf: &NetConf, version: &str) -> Result<Option<Value>, CniError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CniError::new(5, "cannot start", err))?;
    let socket = conf
        .socket
        .clone()
        .or_else(|| std::env::var_os("NETAGENT_HOST").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let client = Client::new(&socket);
    runtime.block_on(async {
        match env.command.as_str() {
            "ADD" => add(&client, env, conf, version).await.map(Some),
            "DEL" => del(&client, env, conf).await.map(|()| None),
            "CHECK" => check(&client, env, conf).await.map(|()| None),
            "STATUS" => status(&client).await.map(|()| None),
            "GC" => gc(&client, conf).await.map(|()| None),
            other => Err(CniError::new(
                4,
                format!("CNI_COMMAND {other:?} is not one this plugin knows"),
                "ADD, DEL, CHECK, VERSION, STATUS, GC",
            )),
        }
    })
}

async fn add(
    client: &Client,
    env: &CniEnv,
    conf: &NetConf,
    version: &str,
) -> Result<Value, CniError> {
    env.require(&["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])?;
    let chained = conf.network.is_none();
    let joining = if chained {
        let previous = conf.prev_result.as_ref().ok_or_else(|| {
            CniError::new(
                7,
                format!(
                    "network {:?}: the netagent plugin needs \"network\" (a netagent network) or, chained, a prevResult with addresses",
                    conf.name
                ),
                "put it after plugins that give addresses, or name a netagent network",
            )
        })?;
        Joining::DnsOnly {
            ifname: env.ifname.clone(),
            addresses: previous_addresses(previous)?,
        }
    } else {
        Joining::Bridge {
            ifname: env.ifname.clone(),
        }
    };
    let joining_is_bridge = matches!(joining, Joining::Bridge { .. });
    let spec = ContainerSpec {
        id: env.container_id.clone(),
        netns: PathBuf::from(&env.netns),
        pid: None,
        network: conf.netagent_network().to_owned(),
        joining,
        name: conf
            .args
            .as_ref()
            .and_then(|a| a.cni.name.clone())
            .or_else(|| env.pod_name().map(str::to_owned)),
        aliases: conf.aliases(),
        // Chained, the runtime's own `portmap` plugin publishes.
        publish: if joining_is_bridge {
            conf.runtime_config
                .port_mappings
                .iter()
                .map(|m| m.mapping())
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        },
        door: Door::Cni,
    };
    let body = serde_json::to_value(&spec).expect("a spec is JSON");
    let view: ContainerView = client
        .post("/v1/containers", &body)
        .await
        .map_err(agent_error)?;
    Ok(match (&conf.prev_result, chained) {
        (Some(previous), true) => result::chained_result(version, previous.clone(), &view),
        _ => result::main_result(version, &view),
    })
}

async fn del(client: &Client, env: &CniEnv, conf: &NetConf) -> Result<(), CniError> {
    // CNI_NETNS may be empty or gone (ctr sends it empty): the container id
    // is enough, and releasing what is not there succeeds.
    env.require(&["CNI_CONTAINERID"])?;
    let path = format!(
        "/v1/containers/{}?network={}",
        encode(&env.container_id),
        encode(conf.netagent_network())
    );
    client.delete(&path).await.map_err(agent_error)
}

async fn check(client: &Client, env: &CniEnv, conf: &NetConf) -> Result<(), CniError> {
    env.require(&["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])?;
    let path = format!(
        "/v1/containers/{}/check?network={}",
        encode(&env.container_id),
        encode(conf.netagent_network())
    );
    client
        .request(hyper::Method::GET, &path, None::<&()>)
        .await
        .map(|_| ())
        .map_err(agent_error)
}

async fn status(client: &Client) -> Result<(), CniError> {
    client
        .get::<Value>("/v1/health")
        .await
        .map(|_| ())
        .map_err(|err| {
            CniError::new(
                50,
                "the netagent agent is not available",
                format!("{err:#}"),
            )
        })
}

async fn gc(client: &Client, conf: &NetConf) -> Result<(), CniError> {
    let request = GcRequest {
        network: conf.netagent_network().to_owned(),
        valid: conf
            .valid_attachments
            .iter()
            .map(|a| a.container_id.clone())
            .collect(),
    };
    let body = serde_json::to_value(&request).expect("a request is JSON");
    let _: GcReport = client
        .post("/v1/containers/gc", &body)
        .await
        .map_err(agent_error)?;
    Ok(())
}

/// The addresses the plugins before this one gave the container: those on
/// an interface with a `sandbox` (inside a namespace), or on none named.
/// Entries on the host's interfaces (a bridge, a veth's host end) are left
/// out.
fn previous_addresses(previous: &Value) -> Result<Vec<IpNet>, CniError> {
    let interfaces = previous["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let in_container = |index: &Value| match index.as_u64() {
        None => true,
        Some(i) => interfaces
            .get(i as usize)
            .and_then(|interface| interface["sandbox"].as_str())
            .is_some_and(|sandbox| !sandbox.is_empty()),
    };
    let mut addresses = Vec::new();
    for ip in previous["ips"].as_array().into_iter().flatten() {
        if !in_container(&ip["interface"]) {
            continue;
        }
        let text = ip["address"].as_str().unwrap_or_default();
        let address: IpNet = text.parse().map_err(|_| {
            CniError::new(
                6,
                format!("prevResult has address {text:?}, not ADDRESS/PREFIX"),
                "",
            )
        })?;
        addresses.push(address);
    }
    if addresses.is_empty() {
        return Err(CniError::new(
            7,
            "the previous plugins gave the container no address",
            "chain the netagent plugin after plugins that give addresses (bridge + host-local)",
        ));
    }
    Ok(addresses)
}

/// An API failure as a CNI error: an unreachable agent is 11 ("try again
/// later"), an unknown network 7 (invalid network configuration), the
/// rest the agent's message under netagent's own code.
fn agent_error(err: anyhow::Error) -> CniError {
    let text = format!("{err:#}");
    if err.downcast_ref::<Unreachable>().is_some() {
        return CniError::new(11, "the netagent agent is not running", text);
    }
    match err
        .chain()
        .find_map(|cause| cause.downcast_ref::<Refused>())
    {
        Some(refused) if refused.status == 404 && refused.message.contains("network") => {
            CniError::new(7, refused.message.clone(), text)
        }
        Some(refused) => CniError::new(AGENT_REFUSED, refused.message.clone(), text),
        None => CniError::new(5, "the agent's answer could not be read", text),
    }
}

/// VERSION's answer, in the version the runtime asked for if it said.
fn version_answer(stdin: &[u8]) -> Value {
    let asked = serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "1.1.0".to_owned());
    json!({ "cniVersion": asked, "supportedVersions": SUPPORTED_VERSIONS })
}

fn print(value: &Value) -> ExitCode {
    println!("{value}");
    ExitCode::SUCCESS
}

fn fail(version: &str, err: &CniError) -> ExitCode {
    println!("{}", err.to_json(version));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn previous_addresses_are_the_containers_only() {
        let previous = json!({
            "interfaces": [
                {"name": "cni0", "mac": "aa:aa:aa:aa:aa:aa"},
                {"name": "veth1", "mac": "bb:bb:bb:bb:bb:bb"},
                {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/run/netns/x"}
            ],
            "ips": [
                {"address": "10.88.0.7/16", "gateway": "10.88.0.1", "interface": 2},
                {"address": "10.99.0.1/24", "interface": 0}
            ]
        });
        let addresses = previous_addresses(&previous).unwrap();
        assert_eq!(addresses, ["10.88.0.7/16".parse::<IpNet>().unwrap()]);
        let none = previous_addresses(&json!({"ips": []})).unwrap_err();
        assert_eq!(none.code, 7);
        let bad = previous_addresses(&json!({"ips": [{"address": "10.0.0.1"}]}));
        assert!(bad.unwrap_err().msg.contains("\"10.0.0.1\""));
    }

    #[test]
    fn version_answers_in_the_asked_version() {
        let answer = version_answer(br#"{"cniVersion":"0.4.0"}"#);
        assert_eq!(answer["cniVersion"], "0.4.0");
        assert_eq!(answer["supportedVersions"][4], "1.1.0");
    }

    #[test]
    fn unreachable_agents_are_try_again_later() {
        let err = anyhow::Error::new(std::io::Error::other("refused")).context(Unreachable {
            socket: "/x.sock".into(),
        });
        assert_eq!(agent_error(err).code, 11);
        let refused = anyhow::Error::new(Refused {
            status: 404,
            message: "no network named \"x\"".into(),
        })
        .context("the agent answered 404");
        assert_eq!(agent_error(refused).code, 7);
    }

    #[test]
    fn ips_without_an_interface_count_and_addresses_keep_the_family() {
        let previous = json!({"ips": [{"address": "fd00::7/64"}]});
        let addresses = previous_addresses(&previous).unwrap();
        assert!(matches!(addresses[0].addr(), IpAddr::V6(_)));
    }
}
