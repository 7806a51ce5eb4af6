//! A bare OCI bundle run by runc or crun in a private host: the runtime's
//! own `spec`, a copy of the busybox rootfs, and setters for what netagent
//! cares about (hooks, bind mounts such as a per-container resolv.conf,
//! the network namespace, annotations). State lives under `--root` in the
//! bundle's directory; the container's cgroup below the fixture's parent.
//!
//! What the runtimes give hooks (measured here): createRuntime runs in the
//! host's namespaces with the bundle as working directory and the OCI state
//! on stdin (runc 1.1.5 says `"status":"creating"`, crun 1.8.1
//! `"created"`); a hook without `env` inherits the runtime's environment;
//! poststop gets `"status":"stopped"` (crun with `"pid":0`, runc none).
//! Mounts are made before createRuntime runs.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::private::PrivateHost;
use super::procs::{Cgroups, Probe};
use super::{require_runtime_programs, rootfs, unique_name, wait_quietly, OciRuntime};
use crate::harness::host::{OutputExt, TestHost};

/// A bundle and its container. Drop it before its [`TestHost`].
pub struct OciBundle {
    host: PrivateHost,
    runtime: OciRuntime,
    dir: PathBuf,
    id: String,
    config: Value,
    cgroups: Cgroups,
}

impl OciBundle {
    /// A bundle for container `id` in `host`, running `sleep 3600` until
    /// [`Self::set_args`] says otherwise.
    pub fn new(host: &TestHost, runtime: OciRuntime, id: &str) -> OciBundle {
        require_runtime_programs(&[runtime.program(), "cp"]);
        let host = PrivateHost::of(host);
        host.prepare();
        if runtime == OciRuntime::Crun {
            host.hide_unified_cgroup();
        }
        let dir = host.scratch().join(unique_name(&format!("bundle-{id}")));
        std::fs::create_dir_all(dir.join("state")).expect("bundle directory");
        let rootfs = format!("{}/.", rootfs::shared_rootfs().display());
        host.run_ok(&["cp", "-a", &rootfs, dir.join("rootfs").to_str().unwrap()]);
        host.run_ok(&[runtime.program(), "spec", "--bundle", dir.to_str().unwrap()]);
        let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
        let mut bundle = OciBundle {
            host,
            runtime,
            dir,
            id: id.to_owned(),
            config: serde_json::from_str(&text).expect("the spec's JSON"),
            cgroups: Cgroups::new(),
        };
        bundle.adapt_spec();
        bundle
    }

    /// What a detached test container needs from the default spec: no
    /// terminal (`run -d` would want a console socket), a writable rootfs,
    /// and a cgroup below the fixture's parent.
    fn adapt_spec(&mut self) {
        let cgroup = format!("{}/{}", self.cgroups.parent(), self.id);
        let config = &mut self.config;
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = json!(["sleep", "3600"]);
        config["root"]["readonly"] = false.into();
        config["linux"]["cgroupsPath"] = cgroup.into();
    }

    /// The bundle directory (config.json, rootfs/, state/).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spec, to change what the setters do not cover.
    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Bind-mounts host file or directory `source` onto `destination`.
    pub fn bind_mount(&mut self, source: &Path, destination: &str, read_only: bool) {
        let mut options = vec!["rbind"];
        options.push(if read_only { "ro" } else { "rw" });
        let mount = json!({"destination": destination, "type": "bind", "source": source, "options": options});
        self.config["mounts"].as_array_mut().unwrap().push(mount);
    }

    /// `RUNTIME --root STATE ARGS`.
    fn runtime_args(&self, args: &[&str]) -> Vec<String> {
        let root = self.dir.join("state").display().to_string();
        let head = [self.runtime.program().to_owned(), "--root".to_owned(), root];
        head.into_iter()
            .chain(args.iter().map(|a| a.to_string()))
            .collect()
    }

    /// Runs `RUNTIME --root STATE ARGS` (bounded) in the private host.
    fn runtime(&self, args: &[&str]) -> Output {
        let full = self.runtime_args(args);
        self.host
            .run(&full.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Runs the runtime with `args` (bounded), its stdout and stderr going to
    /// files: `run -d` and `create` hand their stdio to the container, so a
    /// pipe would stay open as long as the container lives.
    fn runtime_to_files(&self, args: &[&str]) -> Output {
        let (out, err) = (self.dir.join("runtime.out"), self.dir.join("runtime.err"));
        let full = self.runtime_args(args);
        let status = self
            .host
            .bounded_command(&full.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .status()
            .expect("run the OCI runtime");
        Output {
            status,
            stdout: std::fs::read(out).unwrap_or_default(),
            stderr: std::fs::read(err).unwrap_or_default(),
        }
    }

    fn write_config(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        std::fs::write(self.dir.join("config.json"), text).expect("write config.json");
    }

    /// Writes config.json and runs `RUNTIME run -d`: createRuntime hooks
    /// have run when it returns.
    pub fn run_detached(&self) -> Output {
        self.write_config();
        let bundle = self.dir.to_str().unwrap();
        self.runtime_to_files(&["run", "-d", "--bundle", bundle, &self.id])
    }

    /// `RUNTIME state` as JSON (`Null` when there is no such container).
    pub fn state(&self) -> Value {
        let out = self.runtime(&["state", &self.id]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// `RUNTIME exec` of `command` in the container.
    pub fn exec(&self, command: &[&str]) -> Output {
        let mut args = vec!["exec", self.id.as_str()];
        args.extend_from_slice(command);
        self.runtime(&args)
    }

    /// Kills the container and deletes it (poststop hooks run then).
    pub fn delete(&self) {
        let Some(out) = self.kill_and_delete() else {
            return;
        };
        if !out.status.success() {
            eprintln!(
                "{} delete {}: {}",
                self.runtime.program(),
                self.id,
                out.stderr_text()
            );
        }
    }

    /// Kills the container with SIGKILL, waits (bounded) until it is no
    /// longer running, and deletes it: the output of `RUNTIME delete`, which
    /// runs the poststop hooks (`None` when there was no container).
    pub fn kill_and_delete(&self) -> Option<Output> {
        if self.state().is_null() {
            return None;
        }
        let _ = self.runtime(&["kill", &self.id, "KILL"]);
        wait_quietly(Duration::from_secs(5), || {
            self.state()["status"] != "running"
        });
        Some(self.runtime(&["delete", "--force", &self.id]))
    }

    /// What to look for after the drop.
    pub fn probe(&self) -> Probe {
        static NAMES: [&str; 2] = ["runc", "crun"];
        Probe::new(self.host.net_inode(), &NAMES, &self.dir, &self.cgroups)
    }
}

impl Drop for OciBundle {
    fn drop(&mut self) {
        self.delete();
        self.cgroups.remove();
    }
}
