//! "The world" for the data-plane tests: a namespace inside the private
//! host that stands for everything beyond the host, joined to it by a veth
//! (198.51.100.1 on the host's end, 198.51.100.2 in the world, TEST-NET-2
//! of RFC 5737), and a tiny peer-address server and client (python3):
//! the server answers each TCP connection and UDP datagram with the
//! address it came from, so a test sees what NAT did. Every server ends by
//! itself after a minute, and is killed when the test drops it.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::host::{OutputExt, TestHost};

/// The host's address on the world link.
pub const HOST_ADDRESS: &str = "198.51.100.1";
/// The world's address.
pub const WORLD_ADDRESS: &str = "198.51.100.2";
/// The host's IPv6 address on the world link (documentation prefix,
/// RFC 3849).
pub const HOST_ADDRESS6: &str = "2001:db8:99::1";
/// The world's IPv6 address.
pub const WORLD_ADDRESS6: &str = "2001:db8:99::2";

const SERVER: &str = r#"
import socket, sys, threading, time
port = int(sys.argv[1])
def answer_tcp(tcp):
    while True:
        conn, peer = tcp.accept(); conn.sendall(peer[0].encode()); conn.close()
def answer_udp(udp):
    while True:
        data, peer = udp.recvfrom(512); udp.sendto(peer[0].encode(), peer)
for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    tcp = socket.socket(family, socket.SOCK_STREAM)
    udp = socket.socket(family, socket.SOCK_DGRAM)
    for s in (tcp, udp):
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
    tcp.listen(64)
    threading.Thread(target=answer_tcp, args=(tcp,), daemon=True).start()
    threading.Thread(target=answer_udp, args=(udp,), daemon=True).start()
time.sleep(60)
"#;

const CLIENT: &str = r#"
import socket, sys
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
if proto == "tcp":
    s = socket.create_connection((host, port), timeout=2)
else:
    s = socket.socket(family, socket.SOCK_DGRAM); s.settimeout(2)
    s.sendto(b"?", (host, port))
print(s.recv(100).decode())
"#;

/// A running peer-address server; killed on drop.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes the world namespace (`ip netns add world`: the host needs a
/// private /run, [`TestHost::with_private_run`]) and its link.
pub fn make_world(host: &TestHost) {
    for step in [
        "ip netns add world",
        "ip link add wo0 type veth peer name wi0 netns world",
        "ip addr add 198.51.100.1/24 dev wo0",
        "ip link set wo0 up",
        "ip netns exec world ip link set lo up",
        "ip netns exec world ip addr add 198.51.100.2/24 dev wi0",
        "ip netns exec world ip link set wi0 up",
        "ip -6 addr add 2001:db8:99::1/64 dev wo0 nodad",
        "ip netns exec world ip -6 addr add 2001:db8:99::2/64 dev wi0 nodad",
    ] {
        let args: Vec<&str> = step.split(' ').collect();
        host.in_host(&args).assert_ok(step);
    }
}

/// Takes the world away again (before checking that the agent left
/// nothing behind).
pub fn remove_world(host: &TestHost) {
    host.in_host(&["ip", "link", "del", "wo0"])
        .assert_ok("delete the world's link");
    host.in_host(&["ip", "netns", "del", "world"])
        .assert_ok("delete the world");
}

/// Starts a server on `port` (TCP and UDP) in the namespace file `netns`,
/// or in the private host itself when `None`.
pub fn serve(host: &TestHost, netns: Option<&Path>, port: u16) -> Server {
    let args = python_in(netns, SERVER, &[&port.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = host
        .host_command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a server");
    Server(child)
}

/// Asks `address`:`port` over `proto` from `netns` (the private host when
/// `None`): the address the server saw, or `None` when nothing answered.
pub fn ask(
    host: &TestHost,
    netns: Option<&Path>,
    address: &str,
    port: u16,
    proto: &str,
) -> Option<String> {
    let args = python_in(netns, CLIENT, &[address, &port.to_string(), proto]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = host.in_host(&args);
    output
        .status
        .success()
        .then(|| output.stdout_text().trim().to_owned())
}

/// [`ask`] until something answers (a server just started), for at most
/// five seconds.
pub fn ask_until_answered(
    host: &TestHost,
    netns: Option<&Path>,
    address: &str,
    port: u16,
    proto: &str,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = ask(host, netns, address, port, proto);
        if answer.is_some() || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `python3 -c CODE ARGS...`, inside `netns` when given.
fn python_in(netns: Option<&Path>, code: &str, args: &[&str]) -> Vec<String> {
    let mut command: Vec<String> = Vec::new();
    if let Some(netns) = netns {
        command.extend(["nsenter".into(), format!("--net={}", netns.display())]);
    }
    command.extend(["python3".into(), "-c".into(), code.into()]);
    command.extend(args.iter().map(|a| a.to_string()));
    command
}

/// The world namespace's file (for [`serve`] and [`ask`]).
pub fn world() -> &'static Path {
    Path::new("/run/netns/world")
}
