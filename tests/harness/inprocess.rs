//! A sandbox's resolver started in-process on loopback, with an upstream
//! of the test's choosing, on its own thread and current-thread runtime
//! (as the daemon runs it). Stopped when dropped.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;

use config::DaemonConfig;
use resolver::upstream::Upstream;
use resolver::{ResolverCore, SandboxServer, SandboxSockets, TableSnapshot};
use tokio::sync::oneshot;

use super::fixture_table;

/// A running in-process server.
pub struct InProcessServer {
    /// Where it listens, UDP and TCP.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcessServer {
    /// Serves the fixture table as `client` with `upstream` and `config`.
    pub fn start(config: DaemonConfig, upstream: Arc<dyn Upstream>) -> InProcessServer {
        let table = Arc::new(TableSnapshot::load(&fixture_table()).expect("fixture table"));
        let client_id = table
            .endpoints()
            .into_iter()
            .find(|e| e.sandbox == "client")
            .unwrap()
            .id;
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let core = Arc::new(ResolverCore::new(table, &config, upstream));
                let server =
                    SandboxServer::start(core, &client_id, SandboxSockets { udp, tcp }).unwrap();
                ready.send(()).unwrap();
                let _ = stopped.await;
                drop(server);
            });
        });
        is_ready.recv().expect("server started");
        InProcessServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The port, as dig's `-p` wants it.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
