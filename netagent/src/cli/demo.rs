//! `netagent demo`: Docker's "networking with standalone containers"
//! walkthrough (user-defined bridges), replayed on this kernel and checked
//! step by step. It runs its own agent in a private network and mount
//! namespace, so it needs no daemon and no config, reaches no network, and
//! leaves the machine as it found it: everything it made lives in
//! namespaces that end with the process.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use config::{DaemonConfig, DnsMode, NetworkMode};

use super::client::Client;
use super::demo_ports::{fetch, serve_page, World, HOST_ADDRESS};
use super::exec::command_in_sandbox;
use crate::daemon::api::model::{
    ConnectBody, EndpointView, NetworkInspect, NetworkSpec, SandboxSpec, SandboxView,
};
use crate::daemon::PrivateAgent;
use crate::kernel::netns::{NetnsWorker, NsRef};

/// Runs the walkthrough; the exit code is 0 only if every step behaved as
/// described.
pub fn run() -> Result<i32> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the demo needs root: it makes network namespaces, a bridge and veth pairs (run it with sudo)");
    }
    enter_private_namespaces()?;
    let scratch = std::env::temp_dir().join(format!("netagent-demo-{}", std::process::id()));
    let config = demo_config(&scratch);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let agent = PrivateAgent::start(config.clone())
            .await
            .context("cannot start the demo's agent")?;
        let mut demo = Demo {
            client: Client::new(&config.paths.socket),
            worker: NetnsWorker::start()?,
            scratch: scratch.clone(),
            step: 0,
            failed: 0,
        };
        demo.walkthrough().await;
        let leftovers = agent.teardown().await;
        Ok::<_, anyhow::Error>((demo.step, demo.failed, leftovers))
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let (steps, failed, leftovers) = outcome?;
    if failed == 0 && leftovers == 0 {
        println!("\nAll {steps} steps behaved as Docker's documentation describes; everything made was removed.");
        Ok(0)
    } else {
        println!("\n{failed} of {steps} steps did not behave as described ({leftovers} teardown errors).");
        Ok(1)
    }
}

/// Moves this (still single-threaded) process into a new network and
/// mount namespace, with mounts private so nothing it mounts reaches the
/// machine.
fn enter_private_namespaces() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET | nix::sched::CloneFlags::CLONE_NEWNS)
        .context("cannot make a private namespace")?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("cannot make mounts private")?;
    Ok(())
}

fn demo_config(scratch: &Path) -> DaemonConfig {
    let mut config = DaemonConfig::default();
    config.paths.state_dir = scratch.join("state");
    config.paths.netns_dir = scratch.join("netns");
    config.paths.resolv_dir = scratch.join("resolv");
    config.paths.socket = scratch.join("agent.sock");
    config.log.level = "warn".into();
    // The redirect needs nft; without it the demo binds 127.0.0.11:53.
    if !program_exists("nft") {
        config.agent.dns_mode = DnsMode::Direct;
    }
    config
}

fn program_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

struct Demo {
    client: Client,
    worker: NetnsWorker,
    scratch: PathBuf,
    step: usize,
    failed: usize,
}

impl Demo {
    /// Prints a step and whether it behaved as described.
    fn report(&mut self, what: &str, result: Result<String>) {
        self.step += 1;
        println!("[{}] {what}", self.step);
        match result {
            Ok(detail) => println!("    ok    {detail}"),
            Err(err) => {
                self.failed += 1;
                println!("    FAIL  {err:#}");
            }
        }
    }

    async fn walkthrough(&mut self) {
        println!("netagent demo: Docker's user-defined bridge walkthrough, on this kernel, in a private namespace.\n");
        let spec = NetworkSpec {
            name: "new_network".into(),
            ..NetworkSpec::default()
        };
        let created = self
            .client
            .post::<NetworkInspect>("/v1/networks", &spec)
            .await;
        self.report(
            "netagent network create new_network",
            created.map(|n| format!("bridge network, subnet {}", first_subnet(&n))),
        );
        let result = self.run_published("nginx01").await;
        self.report(
            "netagent run --name nginx01 --network new_network -p 8080:80",
            result,
        );
        let result = self.run_sandbox("nginx02", Some("new_network")).await;
        self.report("netagent run --name nginx02 --network new_network", result);
        self.resolve_and_reach("nginx01", "nginx02").await;
        self.resolve_and_reach("nginx02", "nginx01").await;
        self.published_page().await;
        let result = self.run_sandbox("nginx03", None).await;
        self.report(
            "netagent run --name nginx03   (the default bridge: no embedded DNS)",
            result,
        );
        let result = expect_failure(self.getent("nginx03", "nginx01").await);
        self.report(
            "nginx03: getent hosts nginx01   (must fail: different network, no DNS)",
            result,
        );
        let connect = ConnectBody {
            sandbox: "nginx03".into(),
            aliases: vec![],
            ip: None,
            ip6: None,
        };
        let connected = self
            .client
            .post::<EndpointView>("/v1/networks/new_network/connect", &connect)
            .await;
        self.report(
            "netagent network connect new_network nginx03",
            connected.map(|e| format!("nginx03 has {} on new_network", ipv4_of(Some(&e)))),
        );
        let result = self.getent("nginx03", "nginx01").await;
        self.report("nginx03: getent hosts nginx01   (now it resolves)", result);
        let refused = expect_failure(
            self.client
                .delete("/v1/networks/new_network")
                .await
                .map(|()| String::new()),
        );
        self.report(
            "netagent network rm new_network   (must be refused while sandboxes are attached)",
            refused,
        );
        let inspect = self
            .client
            .get::<NetworkInspect>("/v1/networks/new_network")
            .await
            .map(|n| inspect_summary(&n));
        self.report("netagent network inspect new_network", inspect);
        for name in ["nginx01", "nginx02", "nginx03"] {
            let removed = self
                .client
                .delete(&format!("/v1/sandboxes/{name}"))
                .await
                .map(|()| "removed".to_owned());
            self.report(&format!("netagent rm {name}"), removed);
        }
        let removed = self
            .client
            .delete("/v1/networks/new_network")
            .await
            .map(|()| "removed, and its bridge with it".to_owned());
        self.report("netagent network rm new_network", removed);
    }

    async fn run_sandbox(&self, name: &str, network: Option<&str>) -> Result<String> {
        let mut spec = SandboxSpec::named(name);
        if let Some(network) = network {
            spec.network = NetworkMode::Network(network.to_owned());
        }
        let view: SandboxView = self.client.post("/v1/sandboxes", &spec).await?;
        Ok(format!(
            "sandbox {name} at {}",
            ipv4_of(view.endpoints.first())
        ))
    }

    async fn run_published(&self, name: &str) -> Result<String> {
        let mut spec = SandboxSpec::named(name);
        spec.network = NetworkMode::Network("new_network".into());
        spec.publish = vec!["8080:80".parse()?];
        let view: SandboxView = self.client.post("/v1/sandboxes", &spec).await?;
        Ok(format!(
            "sandbox {name} at {}, its port 80 published on the host's port 8080",
            ipv4_of(view.endpoints.first())
        ))
    }

    /// nginx01 serves a page on its port 80; the host fetches it on
    /// localhost:8080 and the world on the host's address.
    async fn published_page(&mut self) {
        let scratch = self.scratch.clone();
        let world = World::make(&self.worker, &scratch).await;
        let nginx01: Result<SandboxView> = self.client.get("/v1/sandboxes/nginx01").await;
        let served = match nginx01 {
            Ok(view) => serve_page(&self.worker, &view.netns, 2).await,
            Err(err) => Err(err),
        };
        let local = match served {
            Ok(()) => tokio::task::spawn_blocking(|| fetch(([127, 0, 0, 1], 8080).into()))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|page| page),
            Err(err) => Err(err),
        };
        self.report(
            "host: curl http://localhost:8080/   (nginx01's port 80, published)",
            local.map(|page| format!("got {page}")),
        );
        let remote = match &world {
            Ok(world) => {
                let address = SocketAddr::new(HOST_ADDRESS.parse().expect("an address"), 8080);
                world.fetch(&self.worker, address).await
            }
            Err(err) => Err(anyhow::anyhow!("no world namespace: {err:#}")),
        };
        self.report(
            &format!("another machine: curl http://{HOST_ADDRESS}:8080/   (the host's address)"),
            remote.map(|page| format!("got {page}")),
        );
        if let Ok(world) = world {
            let _ = world.remove();
        }
    }

    async fn resolve_and_reach(&mut self, from: &str, to: &str) {
        let dig = self
            .in_sandbox(from, &["dig", "+short", "+time=2", "+tries=1", to])
            .await
            .and_then(non_empty);
        let address = dig
            .as_ref()
            .ok()
            .and_then(|a| a.lines().next().and_then(|l| l.parse::<IpAddr>().ok()));
        self.report(
            &format!("{from}: dig +short {to}   (through 127.0.0.11)"),
            dig,
        );
        let result = self.getent(from, to).await;
        self.report(
            &format!("{from}: getent hosts {to}   (the C library, through /etc/resolv.conf)"),
            result,
        );
        let reach = match address {
            Some(address) => self.tcp_reach(from, to, address).await,
            None => Err(anyhow::anyhow!("no address to connect to")),
        };
        self.report(&format!("{from}: TCP connection to {to}:8080"), reach);
    }

    async fn getent(&self, sandbox: &str, name: &str) -> Result<String> {
        self.in_sandbox(sandbox, &["getent", "hosts", name])
            .await
            .and_then(non_empty)
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// Runs a program in the sandbox, as `netagent exec` does.
    async fn in_sandbox(&self, sandbox: &str, argv: &[&str]) -> Result<String> {
        let view: SandboxView = self.client.get(&format!("/v1/sandboxes/{sandbox}")).await?;
        let resolv = PathBuf::from(view.resolv_conf);
        let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        let output = tokio::task::spawn_blocking(move || {
            command_in_sandbox(&view.netns, Some(&resolv), &argv)?.output()
        })
        .await??;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "{}{}",
                output.status,
                if stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", stderr.trim())
                }
            )
        }
    }

    /// Listens on 8080 in `to` and connects from `from`: the handshake
    /// completing shows the two sandboxes reach each other over the bridge.
    async fn tcp_reach(&self, from: &str, to: &str, address: IpAddr) -> Result<String> {
        let netns = |view: SandboxView| NsRef::Path(view.netns);
        let target = netns(self.client.get(&format!("/v1/sandboxes/{to}")).await?);
        let source = netns(self.client.get(&format!("/v1/sandboxes/{from}")).await?);
        let listener = self
            .worker
            .run_in(&target, || TcpListener::bind("0.0.0.0:8080"))
            .await?;
        let peer = SocketAddr::new(address, 8080);
        let stream = self
            .worker
            .run_in(&source, move || {
                TcpStream::connect_timeout(&peer, Duration::from_secs(2))
            })
            .await?;
        let local = stream.local_addr()?;
        drop(listener);
        Ok(format!("connected {local} -> {peer}"))
    }
}

fn non_empty(text: String) -> Result<String> {
    if text.trim().is_empty() || text.starts_with(";;") {
        bail!("no answer");
    }
    Ok(text)
}

fn expect_failure(result: Result<String>) -> Result<String> {
    match result {
        Ok(text) => bail!("it succeeded ({text}) but should not have"),
        Err(err) => Ok(format!("refused as expected: {err:#}")),
    }
}

/// A sandbox's first IPv4 address, or `?`.
fn ipv4_of(endpoint: Option<&EndpointView>) -> String {
    endpoint
        .and_then(|e| e.ipv4)
        .map_or_else(|| "?".to_owned(), |a| a.to_string())
}

/// A network's first subnet, or `?`.
fn first_subnet(network: &NetworkInspect) -> String {
    network
        .ipam
        .config
        .first()
        .map_or_else(|| "?".to_owned(), |c| c.subnet.to_string())
}

fn inspect_summary(network: &NetworkInspect) -> String {
    let containers = network
        .containers
        .values()
        .map(|c| format!("{} {}", c.name, c.ipv4_address))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "Driver {}, Subnet {}, Containers: {containers}",
        network.driver,
        first_subnet(network)
    )
}
