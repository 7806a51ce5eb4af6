//! Namespace tier: the host's resolv.conf changed behind other paths
//! (issue #14). The agent watched only the file's directory, which
//! inotify tells about changes made through that directory's own paths:
//! a resolv.conf bind-mounted from elsewhere (the agent in a container, a
//! Kubernetes node) and written in place through its source was never
//! read again. The agent logs the servers each time it reads the file,
//! which is what these tests wait for.

use std::time::{Duration, Instant};

use crate::harness::host::{OutputExt, TestHost};

/// Waits (bounded) until the agent has read `server` from the host's
/// resolv.conf.
fn wait_for_servers(host: &TestHost, server: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !host.daemon_log().contains(&format!("{server}:53")) {
        assert!(
            Instant::now() < deadline,
            "{what}: {server} never read:\n{}",
            host.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bind_mounted_resolv_conf_written_through_its_source_is_read_again() {
    let mut host = TestHost::new();
    let source_dir = host.dir.path().join("elsewhere");
    std::fs::create_dir(&source_dir).unwrap();
    let source = source_dir.join("resolv.conf");
    std::fs::write(&source, "nameserver 10.1.1.1\n").unwrap();
    let target = host.dir.path().join("host-resolv.conf");
    // In the private host's own mount namespace, as a container's
    // runtime would mount it.
    host.in_host(&[
        "mount",
        "--bind",
        source.to_str().unwrap(),
        target.to_str().unwrap(),
    ])
    .assert_ok("bind-mount the resolv.conf");
    host.kill_daemon();
    host.start_daemon();
    wait_for_servers(&host, "10.1.1.1", "at start");
    // In place: the same inode, through the source's path only.
    std::fs::write(&source, "nameserver 10.2.2.2\n").unwrap();
    wait_for_servers(&host, "10.2.2.2", "written through the source");
    std::fs::write(&source, "nameserver 10.3.3.3\n").unwrap();
    wait_for_servers(&host, "10.3.3.3", "written a second time");
}

#[test]
fn a_replaced_resolv_conf_is_watched_in_its_new_file() {
    let host = TestHost::new();
    let dir = host.dir.path();
    let target = dir.join("host-resolv.conf");
    let staged = dir.join("resolv.conf.new");
    std::fs::write(&staged, "nameserver 10.4.4.4\n").unwrap();
    std::fs::rename(&staged, &target).unwrap();
    wait_for_servers(&host, "10.4.4.4", "replaced by rename");
    // Another path to the new file (a hard link in another directory),
    // written in place: seen only if the watch moved to the new file.
    let other_dir = dir.join("links");
    std::fs::create_dir(&other_dir).unwrap();
    let link = other_dir.join("resolv.conf");
    std::fs::hard_link(&target, &link).unwrap();
    std::fs::write(&link, "nameserver 10.5.5.5\n").unwrap();
    wait_for_servers(&host, "10.5.5.5", "written through a hard link");
}
