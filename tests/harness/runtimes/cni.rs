//! CNI pieces for the runtime fixtures: conflists with the standard
//! plugins (bridge, host-local, loopback from /usr/lib/cni), a merged
//! plugin directory for `ctr` (which looks in one directory only), and a
//! logging plugin that records what a runtime passes (every `CNI_*`
//! variable and stdin) and hands the previous result on unchanged.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Where Debian's containernetworking-plugins puts the standard plugins.
pub const STANDARD_PLUGINS: &str = "/usr/lib/cni";

/// The logging plugin's type (its file name in a plugin directory).
pub const LOGGING_PLUGIN: &str = "cnilog";

/// One chain: a bridge with host-local IPAM on `subnet` (gateway `.1`),
/// followed by `tail` (for example [`logging_plugin`]). host-local keeps
/// its leases in `ipam_dir`, not in the default /var/lib/cni.
pub fn bridge_conflist(
    network: &str,
    bridge: &str,
    subnet: &str,
    ipam_dir: &Path,
    tail: &[Value],
) -> String {
    let bridge = json!({
        "type": "bridge",
        "bridge": bridge,
        "isGateway": true,
        "ipMasq": false,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "dataDir": ipam_dir,
            "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": subnet}]],
        },
    });
    let mut plugins = vec![bridge];
    plugins.extend_from_slice(tail);
    let list = json!({"cniVersion": "0.4.0", "name": network, "plugins": plugins});
    serde_json::to_string_pretty(&list).unwrap()
}

/// The logging plugin's entry in a chain: it appends to `log`.
pub fn logging_plugin(log: &Path) -> Value {
    json!({"type": LOGGING_PLUGIN, "logFile": log})
}

/// A shell script, so that any runtime can run it: absolute paths because
/// a runtime may give its plugins no PATH; jq for the JSON.
const LOGGING_SCRIPT: &str = r#"#!/bin/sh
# Test CNI plugin: logs one JSON line per call, passes prevResult on.
in=$(/bin/cat)
log=$(printf '%s' "$in" | /usr/bin/jq -r '.logFile // "/dev/null"')
printf '%s' "$in" | /usr/bin/jq -c --arg command "$CNI_COMMAND" \
  '{command: $command, env: ($ENV | with_entries(select(.key | startswith("CNI_")))), stdin: .}' >> "$log"
case "$CNI_COMMAND" in
  ADD) printf '%s' "$in" | /usr/bin/jq -c '(.prevResult // {}) + {cniVersion: .cniVersion}' ;;
  VERSION) printf '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}' ;;
esac
"#;

/// Writes the logging plugin into directory `dir` (made if missing);
/// returns its path.
pub fn install_logging_plugin(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("plugin directory");
    let path = dir.join(LOGGING_PLUGIN);
    std::fs::write(&path, LOGGING_SCRIPT).expect("write the logging plugin");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// One call the logging plugin saw.
#[derive(Debug, Clone)]
pub struct CniCall {
    /// `CNI_COMMAND`: ADD, DEL, CHECK, VERSION, ...
    pub command: String,
    /// Every `CNI_*` variable it was given.
    pub env: BTreeMap<String, String>,
    /// The JSON on its stdin.
    pub stdin: Value,
}

/// The calls logged in `log`, in order (none when it does not exist).
pub fn read_log(log: &Path) -> Vec<CniCall> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).expect("a log line");
            let env = entry["env"].as_object().cloned().unwrap_or_default();
            CniCall {
                command: entry["command"].as_str().unwrap_or_default().to_owned(),
                env: env
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                stdin: entry["stdin"].clone(),
            }
        })
        .collect()
}

/// Fills `dir` with links to the standard plugins and then to every file
/// of `extra` (which wins on a name both have): `ctr` finds plugins in
/// /opt/cni/bin only, and this directory is mounted there.
pub fn merged_plugin_dir(dir: &Path, extra: Option<&Path>) {
    std::fs::create_dir_all(dir).expect("plugin directory");
    let sources = std::iter::once(Path::new(STANDARD_PLUGINS)).chain(extra);
    for source in sources {
        let entries = std::fs::read_dir(source).expect("read a plugin directory");
        for entry in entries.filter_map(|e| e.ok()) {
            let link = dir.join(entry.file_name());
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(entry.path(), link).expect("link a plugin");
        }
    }
}

/// `CNI_COMMAND`s in the order they were logged, e.g. `["ADD", "DEL"]`.
pub fn commands(calls: &[CniCall]) -> Vec<&str> {
    calls.iter().map(|c| c.command.as_str()).collect()
}

/// A short human view of the calls, for a test's log: command, the
/// variables, and stdin without `prevResult` (long and predictable).
pub fn describe(calls: &[CniCall]) -> String {
    let mut text = String::new();
    for call in calls {
        let mut stdin = call.stdin.clone();
        let had_prev = stdin.as_object_mut().and_then(|o| o.remove("prevResult"));
        text += &format!("{} {:?}\n  stdin {stdin}", call.command, call.env);
        if had_prev.is_some() {
            text += " (+ prevResult)";
        }
        text += "\n";
    }
    text
}
