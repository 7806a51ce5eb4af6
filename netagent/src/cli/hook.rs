//! The OCI runtime hook: `netagent hook createRuntime` and `netagent hook
//! poststop`, run by runc, crun or podman with the container's OCI state
//! on stdin (OCI runtime spec, "Lifecycle" and "State"). Like the CNI
//! plugin it is a short-lived client of the agent (DESIGN.md, seam 9).
//!
//! createRuntime runs in the host's namespaces once the container's
//! namespaces and mounts exist and before its process starts. It attaches
//! the container's namespace (by its pid) to the network named by the
//! `netagent.network` annotation, under `netagent.name` (podman puts no
//! container name in the state) with the aliases in `netagent.aliases`,
//! and points the container's /etc/resolv.conf at 127.0.0.11: the file
//! the runtime bind-mounts there, or the one in the bundle's rootfs when
//! the runtime mounts none (podman `--network none`).
//!
//! poststop releases it. podman runs poststop with an empty environment
//! (no PATH): nothing here runs another program.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use config::{ContainerSpec, Door, Joining};
use serde::Deserialize;
use serde_json::Value;

use super::args::HookStage;
use super::client::{encode, Client};
use crate::daemon::api::model::ContainerView;

/// The most state the hook reads from stdin.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// The annotation that names the network; without it the hook refuses.
pub const NETWORK_ANNOTATION: &str = "netagent.network";
/// The annotation that names the container.
pub const NAME_ANNOTATION: &str = "netagent.name";
/// Comma-separated aliases.
pub const ALIASES_ANNOTATION: &str = "netagent.aliases";
/// Published ports, comma-separated, each as `-p` takes it
/// (`8080:80,127.0.0.1:5353:53/udp`).
pub const PUBLISH_ANNOTATION: &str = "netagent.publish";

/// The OCI state, as much as the hook reads.
#[derive(Debug, Deserialize)]
struct OciState {
    id: String,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    bundle: PathBuf,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Runs one stage with the state on stdin; the exit code is the process's.
pub fn run(host: &Path, stage: HookStage) -> Result<i32> {
    let mut text = Vec::new();
    std::io::stdin()
        .take(MAX_STATE_BYTES)
        .read_to_end(&mut text)
        .context("cannot read the OCI state on stdin")?;
    let state = parse_state(&text)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = Client::new(host);
    runtime.block_on(async {
        match stage {
            HookStage::CreateRuntime => create_runtime(&client, &state).await,
            HookStage::Poststop => release(&client, &state.id).await,
        }
    })?;
    Ok(0)
}

fn parse_state(text: &[u8]) -> Result<OciState> {
    serde_json::from_slice(text).context("stdin is not an OCI state (id, pid, bundle)")
}

/// The container spec createRuntime posts for the OCI state `text` (what
/// the runtime writes on the hook's stdin), or why there is none. The
/// fuzz target `hook_state` feeds it.
pub fn spec_from_state(text: &[u8]) -> Result<ContainerSpec> {
    spec_of(&parse_state(text)?)
}

async fn create_runtime(client: &Client, state: &OciState) -> Result<()> {
    let spec = spec_of(state)?;
    let body = serde_json::to_value(&spec).expect("a spec is JSON");
    let view: ContainerView = client.post("/v1/containers", &body).await?;
    if let Err(err) = write_resolv_conf(&state.bundle, &view.resolv_conf) {
        // The container would start without its resolver: undo, and fail.
        let _ = release(client, &state.id).await;
        return Err(err);
    }
    Ok(())
}

/// The container spec for `state`: its network from the annotation, its
/// namespace from its pid.
fn spec_of(state: &OciState) -> Result<ContainerSpec> {
    let Some(network) = state.annotations.get(NETWORK_ANNOTATION) else {
        bail!(
            "container {:?} has no {NETWORK_ANNOTATION} annotation: which network should it join?",
            state.id
        );
    };
    let Some(pid) = state.pid.filter(|p| *p > 0) else {
        bail!(
            "the OCI state of {:?} has no pid: run the hook at createRuntime or prestart",
            state.id
        );
    };
    Ok(ContainerSpec {
        id: state.id.clone(),
        netns: PathBuf::from(format!("/proc/{pid}/ns/net")),
        pid: Some(pid),
        network: network.clone(),
        joining: Joining::Bridge {
            ifname: "eth0".into(),
        },
        name: state.annotations.get(NAME_ANNOTATION).cloned(),
        aliases: state
            .annotations
            .get(ALIASES_ANNOTATION)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        publish: match state.annotations.get(PUBLISH_ANNOTATION) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse()
                        .with_context(|| format!("annotation {PUBLISH_ANNOTATION}"))
                })
                .collect::<Result<_>>()?,
            None => Vec::new(),
        },
        door: Door::Hook,
    })
}

async fn release(client: &Client, id: &str) -> Result<()> {
    client
        .delete(&format!("/v1/containers/{}", encode(id)))
        .await
}

/// Writes `text` into the container's /etc/resolv.conf: the source of the
/// runtime's bind mount there if it has one, else the rootfs's file.
/// Written in place (the mount holds the file's inode, not its name).
fn write_resolv_conf(bundle: &Path, text: &str) -> Result<()> {
    let config_path = bundle.join("config.json");
    let config: Value = serde_json::from_slice(
        &std::fs::read(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", config_path.display()))?;
    let target = resolv_conf_target(bundle, &config)?;
    // O_NOFOLLOW: the rootfs is the image's, and a resolv.conf that is a
    // symlink to a host file must not make the hook overwrite that file.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .with_context(|| format!("cannot write {}", target.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", target.display()))
}

/// Where the container's resolv.conf lives on the host.
fn resolv_conf_target(bundle: &Path, config: &Value) -> Result<PathBuf> {
    let mounted = config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["destination"].as_str() == Some("/etc/resolv.conf"))
        .and_then(|m| m["source"].as_str());
    if let Some(source) = mounted {
        return Ok(bundle.join(source));
    }
    let root = config["root"]["path"].as_str().unwrap_or("rootfs");
    let etc = bundle.join(root).join("etc");
    // Inside the image, refuse anything but a real directory: a symlinked
    // /etc would lead outside the rootfs.
    let meta = std::fs::symlink_metadata(&etc)
        .with_context(|| format!("the rootfs has no {}", etc.display()))?;
    if !meta.is_dir() {
        bail!(
            "{} is not a directory (a symlink?): not writing through it",
            etc.display()
        );
    }
    Ok(etc.join("resolv.conf"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_publish_annotation_becomes_published_ports_and_a_bad_one_is_named() {
        let state = |ports: &str| {
            json!({"id": "c1", "pid": 42, "annotations": {
                "netagent.network": "app", "netagent.publish": ports}})
            .to_string()
        };
        let spec = spec_from_state(state("8080:80, 127.0.0.1:5353:53/udp").as_bytes()).unwrap();
        let shown: Vec<String> = spec.publish.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["8080:80/tcp", "127.0.0.1:5353:53/udp"]);
        let err = spec_from_state(state("80-90:80").as_bytes()).unwrap_err();
        assert!(format!("{err:#}").contains("netagent.publish"), "{err:#}");
    }

    #[test]
    fn the_runtimes_mount_wins_over_the_rootfs() {
        let config = json!({
            "root": {"path": "rootfs"},
            "mounts": [{"destination": "/etc/resolv.conf", "source": "/run/c1/resolv.conf"}]
        });
        assert_eq!(
            resolv_conf_target(Path::new("/b"), &config).unwrap(),
            Path::new("/run/c1/resolv.conf")
        );
    }

    #[test]
    fn without_a_mount_the_rootfs_file_unless_etc_is_a_symlink() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bundle.path().join("rootfs/etc")).unwrap();
        let config = json!({"root": {"path": "rootfs"}});
        assert_eq!(
            resolv_conf_target(bundle.path(), &config).unwrap(),
            bundle.path().join("rootfs/etc/resolv.conf")
        );
        std::fs::create_dir_all(bundle.path().join("evil")).unwrap();
        std::os::unix::fs::symlink("/etc", bundle.path().join("evil/etc")).unwrap();
        let evil = json!({"root": {"path": "evil"}});
        assert!(resolv_conf_target(bundle.path(), &evil).is_err());
    }

    #[test]
    fn a_symlinked_resolv_conf_is_not_followed() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bundle.path().join("rootfs/etc")).unwrap();
        let victim = bundle.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, bundle.path().join("rootfs/etc/resolv.conf")).unwrap();
        std::fs::write(
            bundle.path().join("config.json"),
            r#"{"root":{"path":"rootfs"}}"#,
        )
        .unwrap();
        assert!(write_resolv_conf(bundle.path(), "nameserver 127.0.0.11\n").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    }
}
