//! The demo's published port: nginx01 runs with `-p 8080:80` and serves a
//! page on its port 80 (a few lines of HTTP/1.0 here, standing for
//! nginx); the host fetches it on localhost:8080, and a "world"
//! namespace, standing for another machine on the host's network, fetches
//! it on the host's address. The world is a namespace of the demo's own
//! with a veth to the (private) host: 198.51.100.1 on the host's end,
//! 198.51.100.2 in the world (TEST-NET-2, RFC 5737).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::kernel::link::Links;
use crate::kernel::netns::{NetnsWorker, NsRef};

/// The host's address on the world's link.
pub const HOST_ADDRESS: &str = "198.51.100.1";
/// The page nginx01 serves.
pub const PAGE: &str = "<h1>Welcome to nginx01</h1>";

/// Serves [`PAGE`] on port 80 inside `netns`, from a thread of its own
/// that stops after `requests` requests or ten seconds.
pub async fn serve_page(worker: &NetnsWorker, netns: &Path, requests: usize) -> Result<()> {
    let listener = worker
        .run_in(&NsRef::Path(netns.to_owned()), || {
            TcpListener::bind("0.0.0.0:80")
        })
        .await
        .context("listen on port 80 in nginx01")?;
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut served = 0;
        while served < requests && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut request = [0u8; 1024];
                    let _ = stream.read(&mut request);
                    let body = format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{PAGE}",
                        PAGE.len()
                    );
                    let _ = stream.write_all(body.as_bytes());
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    Ok(())
}

/// `GET /` from `address`: the body, or why not.
pub fn fetch(address: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .with_context(|| format!("connect to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: nginx01\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let Some((status, body)) = response.split_once("\r\n\r\n") else {
        bail!("no HTTP response from {address}: {response:?}");
    };
    if !status.starts_with("HTTP/1.0 200") {
        bail!("{address} answered {status:?}");
    }
    Ok(body.to_owned())
}

/// The world: a namespace at `path` joined to the host by a veth.
pub struct World {
    path: PathBuf,
}

impl World {
    /// Makes the world namespace and its link, addressed and up.
    pub async fn make(worker: &NetnsWorker, scratch: &Path) -> Result<World> {
        let path = scratch.join("world");
        worker
            .create_named(&path)
            .await
            .context("make the world namespace")?;
        let world = NsRef::Path(path.clone());
        let host = Links::here()?;
        // The demo's private host has `lo` down; localhost:8080 needs it.
        host.set_up_by_name("lo").await?;
        let index = {
            let namespace = world.open()?;
            host.create_pair("demo-world", "eth0", namespace.as_fd(), None)
                .await?
        };
        host.add_address(index, format!("{HOST_ADDRESS}/24").parse()?, "demo-world")
            .await?;
        host.set_up(index, "demo-world").await?;
        let inside = Links::from_connection(worker.run_in(&world, Links::socket_here).await?);
        inside.set_up_by_name("lo").await?;
        let eth0 = inside.set_up_by_name("eth0").await?;
        inside
            .add_address(eth0, "198.51.100.2/24".parse()?, "eth0")
            .await?;
        Ok(World { path })
    }

    /// Removes the world's namespace (its veth goes with it).
    pub fn remove(self) -> Result<()> {
        crate::kernel::netns::delete_named(&self.path).context("remove the world namespace")
    }

    /// [`fetch`] from inside the world.
    pub async fn fetch(&self, worker: &NetnsWorker, address: SocketAddr) -> Result<String> {
        worker
            .run_in(&NsRef::Path(self.path.clone()), move || {
                fetch(address).map_err(|err| std::io::Error::other(format!("{err:#}")))
            })
            .await
            .map_err(Into::into)
    }
}
