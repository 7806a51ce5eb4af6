//! The resolver inside a sandbox: sockets bound in its namespace by the
//! namespace worker, the redirect from port 53 (or a direct bind), a
//! server on the DNS thread (its guard on the agent's runtime), and the
//! sandbox's resolv.conf.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

use config::{DnsMode, EMBEDDED_RESOLVER};
use resolver::resolv_conf::{ResolvConf, SandboxResolvConf};
use resolver::{SandboxServer, SandboxSockets};

use super::{faults, Agent, AgentError, Inner, LiveResolver};
use crate::agent::store::SandboxRecord;
use crate::kernel::netns::{NsRef, SandboxSockets as NetnsSocketFactory};
use crate::kernel::redirect;

impl Agent {
    /// Starts the sandbox's resolver unless it runs already; returns
    /// whether it started one.
    pub(super) async fn ensure_resolver(
        &self,
        inner: &mut Inner,
        record: &SandboxRecord,
    ) -> Result<bool, AgentError> {
        if inner.resolvers.contains_key(&record.name) {
            return Ok(false);
        }
        let ns = NsRef::Path(record.netns.clone());
        let mode = self.config.agent.dns_mode;
        if mode == DnsMode::Direct && record.dns_mode == DnsMode::Redirect {
            // Restarted in direct mode over a sandbox made in redirect
            // mode: its old rule would send port 53 to a dead port.
            let _ = redirect::remove(&self.worker, &ns).await;
        }
        // Watched before the rules are loaded, so that nothing that
        // removes them afterwards goes unseen.
        let events = match mode {
            DnsMode::Redirect => Some(self.watch_rules(&ns, &record.name).await?),
            DnsMode::Direct => None,
        };
        let sockets = self
            .worker
            .run_in(&ns, move || bind_in_sandbox(mode))
            .await
            .map_err(AgentError::io(format!(
                "bind 127.0.0.11 in sandbox {:?}",
                record.name
            )))?;
        let port = sockets.udp.local_addr().map(|a| a.port()).unwrap_or(53);
        if mode == DnsMode::Redirect {
            redirect::program(&self.worker, &ns, port)
                .await
                .map_err(AgentError::io(format!(
                    "program the DNS redirect in sandbox {:?}",
                    record.name
                )))?;
        }
        let live = match self.start_serving(record, &ns, sockets, events, port) {
            Ok(live) => live,
            Err(err) => {
                // Dropping what was started stopped the server and the
                // guard (and its watch); the redirect and the upstream
                // sockets go too.
                let mut errors = vec![err];
                if mode == DnsMode::Redirect {
                    if let Err(undo) = redirect::remove(&self.worker, &ns).await {
                        errors.push(AgentError::io("undo: remove the DNS redirect")(undo));
                    }
                }
                self.forwarder.remove_sandbox(&record.id);
                return Err(AgentError::from_steps(errors).expect_err("the cause is in"));
            }
        };
        if let Some(stored) = inner.state.sandboxes.get_mut(&record.name) {
            stored.dns_mode = mode;
        }
        inner.resolvers.insert(record.name.clone(), live);
        tracing::info!(sandbox = %record.name, port, ?mode, "resolver injected");
        Ok(true)
    }

    /// The sandbox's nftables events, for its redirect's guard: its
    /// namespace gets an id in the agent's (the events are tagged with it).
    async fn watch_rules(
        &self,
        ns: &NsRef,
        sandbox: &str,
    ) -> Result<redirect::events::Watch, AgentError> {
        let events = self.nft_events.as_ref().ok_or_else(|| {
            AgentError::io("watch the DNS redirect")(std::io::Error::other(
                "the agent started in direct mode has no nftables event socket",
            ))
        })?;
        let namespace = ns.open().map_err(AgentError::io(format!(
            "open the namespace of sandbox {sandbox:?}"
        )))?;
        let nsid = self.links.nsid_of(namespace.as_fd()).await?;
        Ok(events.watch(nsid))
    }

    /// Starts the server on the bound sockets, the redirect's guard, and
    /// the sandbox's own upstream sockets. On failure, what it started is
    /// dropped with the error, which stops it.
    fn start_serving(
        &self,
        record: &SandboxRecord,
        ns: &NsRef,
        sockets: SandboxSockets,
        events: Option<redirect::events::Watch>,
        port: u16,
    ) -> Result<LiveResolver, AgentError> {
        let server = {
            // On the DNS thread, never the agent's (dns_thread.rs).
            let _dns = self.dns.handle().enter();
            SandboxServer::start(Arc::clone(&self.core), &record.id, sockets)
        }
        .map_err(AgentError::io("start the sandbox's resolver"))?;
        let guard = events.map(|events| {
            tokio::spawn(redirect::guard(
                events,
                self.worker.clone(),
                ns.clone(),
                port,
                Arc::clone(&self.metrics.redirects_restored),
            ))
        });
        let live = LiveResolver {
            _server: server,
            guard,
            port,
        };
        faults::check(faults::INJECT_SERVE)?;
        if !record.spec.dns.is_empty() {
            let factory = Arc::new(NetnsSocketFactory {
                worker: self.socket_worker.clone(),
                ns: ns.clone(),
            });
            self.forwarder
                .set_sandbox_servers(&record.id, &record.spec.dns, factory)
                .map_err(AgentError::io(format!(
                    "open upstream sockets in sandbox {:?}",
                    record.name
                )))?;
        }
        Ok(live)
    }

    /// Stops the sandbox's resolver and takes the redirect out (best
    /// effort: the namespace may be gone already).
    pub(super) async fn remove_resolver(&self, inner: &mut Inner, record: &SandboxRecord) {
        let Some(live) = inner.resolvers.remove(&record.name) else {
            return;
        };
        drop(live);
        self.forwarder.remove_sandbox(&record.id);
        if self.config.agent.dns_mode == DnsMode::Redirect && record.netns.exists() {
            let ns = NsRef::Path(record.netns.clone());
            let _ = redirect::remove(&self.worker, &ns).await;
        }
    }

    /// The port the sandbox's resolver listens on, if it has one.
    pub(super) fn resolver_port(inner: &Inner, sandbox: &str) -> Option<u16> {
        inner.resolvers.get(sandbox).map(|live| live.port)
    }

    /// Where a sandbox's resolv.conf goes: `RESOLV_DIR/NAME/resolv.conf`.
    pub fn resolv_conf_path(&self, sandbox: &str) -> PathBuf {
        self.config
            .paths
            .resolv_dir
            .join(sandbox)
            .join("resolv.conf")
    }

    /// Writes the sandbox's resolv.conf the way Docker transforms the
    /// host's: 127.0.0.11 when it has the embedded resolver, the upstream
    /// servers otherwise; the host's file itself in host mode.
    pub(super) fn write_resolv_conf(
        &self,
        inner: &Inner,
        record: &SandboxRecord,
    ) -> Result<(), AgentError> {
        let host_path = &self.config.paths.host_resolv_conf;
        let host_text = std::fs::read_to_string(host_path).unwrap_or_default();
        let text = if record.host_mode {
            host_text
        } else {
            let host = ResolvConf::parse(&host_text);
            let host_path = host_path.display().to_string();
            SandboxResolvConf {
                host: &host,
                host_path: &host_path,
                embedded: inner.resolvers.contains_key(&record.name),
                dns: &record.spec.dns,
                dns_search: &record.spec.dns_search,
                dns_options: &record.spec.dns_options,
                domain: self.config.resolver.domain.as_deref(),
            }
            .render()
        };
        let path = self.resolv_conf_path(&record.name);
        let dir = path.parent().expect("a file in a directory");
        std::fs::create_dir_all(dir)
            .map_err(AgentError::io(format!("create {}", dir.display())))?;
        let staged = path.with_extension("tmp");
        std::fs::write(&staged, text)
            .map_err(AgentError::io(format!("write {}", staged.display())))?;
        std::fs::rename(&staged, &path).map_err(AgentError::io(format!("write {}", path.display())))
    }

    /// Removes the sandbox's resolv.conf directory.
    pub(super) fn remove_resolv_conf(&self, sandbox: &str) {
        let _ = std::fs::remove_dir_all(self.config.paths.resolv_dir.join(sandbox));
    }
}

/// Runs on the namespace worker inside the sandbox: binds the resolver's
/// UDP socket and TCP listener on 127.0.0.11 (port 53, or one port the
/// kernel picks for both). Never SO_REUSEPORT: a root process in the
/// sandbox could join the group and steal queries (DESIGN.md).
fn bind_in_sandbox(mode: DnsMode) -> std::io::Result<SandboxSockets> {
    Ok(match mode {
        DnsMode::Direct => {
            let addr = SocketAddr::from((EMBEDDED_RESOLVER, 53));
            SandboxSockets {
                udp: UdpSocket::bind(addr)?,
                tcp: TcpListener::bind(addr)?,
            }
        }
        DnsMode::Redirect => bind_pair_on_random_port()?,
    })
}

fn bind_pair_on_random_port() -> std::io::Result<SandboxSockets> {
    let mut last_error = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind((EMBEDDED_RESOLVER, 0))?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok(SandboxSockets { udp, tcp }),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no port free for both udp and tcp")))
}
