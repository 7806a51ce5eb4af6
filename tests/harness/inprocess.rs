//! A sandbox's resolver started in-process on loopback, with an upstream
//! of the test's choosing, on its own thread and current-thread runtime
//! (as the daemon runs it). Stopped when dropped.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;

use config::DaemonConfig;
use resolver::upstream::{ForwardRequest, Upstream, UpstreamFuture};
use resolver::{EndpointTable, ResolverCore, SandboxServer, SandboxSockets, TableSnapshot};

use super::background::Background;
use super::fixture_table;

/// A running in-process server.
pub struct InProcessServer {
    /// Where it listens, UDP and TCP.
    pub addr: SocketAddr,
    _running: Background,
}

impl InProcessServer {
    /// Serves the fixture table as `client` with `upstream` and `config`.
    pub fn start(config: DaemonConfig, upstream: Arc<dyn Upstream>) -> InProcessServer {
        let table = TableSnapshot::load(&fixture_table()).expect("fixture table");
        let client_id = table
            .endpoints()
            .into_iter()
            .find(|e| e.sandbox == "client")
            .unwrap()
            .id;
        Self::start_with(table, &client_id, config, move || upstream).0
    }

    /// Serves `table` as the sandbox `sandbox_id`, with the upstream that
    /// `make_upstream` builds inside the server's runtime (the forwarder
    /// makes its sockets there); returns the upstream too.
    pub fn start_with<U, F>(
        table: EndpointTable,
        sandbox_id: &str,
        config: DaemonConfig,
        make_upstream: F,
    ) -> (InProcessServer, Arc<U>)
    where
        U: Upstream + ?Sized,
        F: FnOnce() -> Arc<U> + Send + 'static,
        Arc<U>: Send,
    {
        let table = Arc::new(table);
        let sandbox_id = sandbox_id.to_owned();
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let running = Background::spawn(move |stopped| async move {
            let upstream = make_upstream();
            let shared: Arc<dyn Upstream> = Arc::new(Shared(Arc::clone(&upstream)));
            let core = Arc::new(ResolverCore::new(table, &config, shared));
            let server =
                SandboxServer::start(core, &sandbox_id, SandboxSockets { udp, tcp }).unwrap();
            ready.send(upstream).unwrap_or_else(|_| panic!("test gone"));
            let _ = stopped.await;
            drop(server);
        });
        let upstream = is_ready.recv().expect("server started");
        (
            InProcessServer {
                addr,
                _running: running,
            },
            upstream,
        )
    }

    /// The port, as dig's `-p` wants it.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both udp and tcp");
}

/// Lets the test keep its own `Arc` of an upstream of any type, sized or not.
struct Shared<U: ?Sized>(Arc<U>);

impl<U: Upstream + ?Sized> Upstream for Shared<U> {
    fn forward<'a>(&'a self, request: &'a ForwardRequest) -> UpstreamFuture<'a> {
        self.0.forward(request)
    }

    fn cached(&self, request: &ForwardRequest) -> Option<Vec<u8>> {
        self.0.cached(request)
    }

    fn refused(&self, request: &ForwardRequest) {
        self.0.refused(request)
    }
}
