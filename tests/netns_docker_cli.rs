//! Issue #13: a Docker user's hands. Each row is a command line as a
//! Docker user types it, with the exit code and the words the output must
//! have, run in order against the real daemon in a private host. The
//! walkthrough is typed exactly as the seed types it, `-p` included: where
//! Docker takes an IMAGE word, netagent
//! refuses with 125 and says what it does instead, and the next row is
//! the netagent spelling of the same step. Then the JSON key paths of
//! `inspect` and `network inspect` that the walkthrough shows.

use serde_json::Value;

use crate::harness::host::{OutputExt, TestHost};

/// A command line, the exit code it must end with, and words its output
/// (stdout and stderr together) must contain.
type Row<'a> = (&'a [&'a str], i32, &'a [&'a str]);

/// The command line typed on the private host (its mounts hold the
/// sandboxes' namespace files, as /run/netns does on a real one).
fn typed(host: &TestHost, args: &[&str]) -> std::process::Output {
    let socket = host.socket();
    let mut full = vec![
        env!("CARGO_BIN_EXE_netagent"),
        "--host",
        socket.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    host.in_host(&full)
}

fn check_rows(host: &TestHost, rows: &[Row]) {
    for (args, code, words) in rows {
        let output = typed(host, args);
        let text = format!("{}{}", output.stdout_text(), output.stderr_text());
        assert_eq!(
            output.status.code(),
            Some(*code),
            "netagent {}\n{text}",
            args.join(" ")
        );
        for word in *words {
            assert!(
                text.contains(word),
                "netagent {}: {word:?} missing in\n{text}",
                args.join(" ")
            );
        }
        for status in ["400", "404", "409", "500"] {
            assert!(
                !output.stderr_text().contains(&format!("answered {status}")),
                "no HTTP status for a person: {text}"
            );
        }
    }
}

#[rustfmt::skip]
const WALKTHROUGH: &[Row] = &[
    (&["network", "create", "new_network"], 0, &[]),
    (&["run", "-d", "--name", "nginx01", "--net", "new_network", "-p", "80:80", "nginx"], 125, &["\"nginx\" looks like an image", "runs no images", "after `--`"]),
    (&["run", "-d", "--name", "nginx01", "--net", "new_network", "-p", "80:80", "--", "sleep", "1000"], 0, &[]),
    (&["run", "-d", "--name", "nginx02", "--net", "new_network", "-p", "81:80", "--", "sleep", "1000"], 0, &[]),
    (&["ps"], 0, &["0.0.0.0:80->80/tcp", "0.0.0.0:81->80/tcp"]),
    (&["run", "-d", "--name", "again", "--net", "new_network", "-p", "80:80", "--", "sleep", "1000"], 125, &["Error response from daemon:", "host port 80/tcp is already published by sandbox \"nginx01\""]),
    (&["exec", "-it", "nginx01", "getent", "hosts", "nginx02"], 0, &["nginx02"]),
    (&["network", "inspect", "new_network"], 0, &["\"nginx01\"", "\"nginx02\""]),
    (&["run", "-d", "--name", "nginx03", "-p", "82:80", "nginx"], 125, &["runs no images"]),
    (&["run", "-d", "--name", "nginx03", "-p", "82:80", "--", "sleep", "1000"], 0, &[]),
    (&["run", "--name", "hosted", "--network", "host", "-p", "83:80"], 0, &["WARNING: Published ports are discarded when using host network mode"]),
    (&["rm", "hosted"], 0, &[]),
    // getent's own exit code: 2, the name is not found.
    (&["exec", "nginx03", "getent", "hosts", "nginx01"], 2, &[]),
    (&["network", "connect", "new_network", "nginx03"], 0, &[]),
    (&["exec", "nginx03", "getent", "hosts", "nginx01"], 0, &["nginx01"]),
    (&["network", "create", "--driver", "bridge", "--subnet", "192.168.0.0/16", "--gateway", "192.168.0.1", "mynet"], 0, &[]),
    (&["network", "rm", "new_network"], 1, &["Error response from daemon:", "has sandboxes attached: nginx01, nginx02, nginx03"]),
];

#[rustfmt::skip]
const RUN_AND_EXEC: &[Row] = &[
    (&["run", "--rm", "--name", "h1", "-h", "myhost", "--", "hostname"], 0, &["myhost"]),
    (&["run", "--rm", "--name", "h2", "-h", "myhost", "--", "cat", "/etc/hostname"], 0, &["myhost"]),
    (&["run", "--rm", "--name", "e1", "-e", "FOO=bar", "--", "sh", "-c", "echo $FOO"], 0, &["bar"]),
    (&["run", "--rm", "--name", "e2", "--", "no-such-program"], 127, &["executable file not found"]),
    (&["run", "--rm", "--name", "e3", "--", "sh", "-c", "exit 3"], 3, &[]),
    (&["run", "--name", "x", "--bogus"], 125, &["--bogus"]),
    (&["run", "--name", "bad", "--net", "nope"], 125, &["Error response from daemon:", "no network named \"nope\""]),
    (&["run", "--name", "fixed", "--net", "new_network", "--ip", "10.1.2.3"], 125, &["user configured subnets"]),
    (&["exec", "nginx01", "sh", "-c", "exit 5"], 5, &[]),
    (&["exec", "-e", "A=1", "-w", "/tmp", "nginx01", "sh", "-c", "echo $A $PWD"], 0, &["1 /tmp"]),
    (&["exec", "ghost", "ls"], 1, &["Error: No such container: ghost"]),
    (&["run", "--name", "m1", "--net", "mynet", "--ip", "192.168.0.50", "--mac-address", "02:42:ac:11:00:99", "--add-host", "db.example:10.1.2.3", "--network-alias", "web"], 0, &[]),
    (&["inspect", "-f", "{{.NetworkSettings.Networks.mynet.MacAddress}} {{.NetworkSettings.Networks.mynet.IPAddress}}", "m1"], 0, &["02:42:ac:11:00:99 192.168.0.50"]),
    (&["exec", "m1", "cat", "/etc/hosts"], 0, &["10.1.2.3\tdb.example", "192.168.0.50\tm1"]),
    (&["exec", "nginx01", "getent", "hosts", "web"], 2, &[]),
    (&["run", "--name", "quick", "--", "true"], 0, &[]),
    // No --name: one made up as Docker does, adjective_name.
    (&["run", "--net", "mynet", "--rm", "--", "sh", "-c", "hostname | grep _"], 0, &[]),
    (&["network", "create", "--ipv6", "--subnet", "10.32.0.0/24", "--subnet", "fd00:32::/64", "dual"], 0, &[]),
    (&["run", "--name", "six", "--net", "dual", "--ip6", "fd00:32::66"], 0, &[]),
    (&["ps", "--filter", "name=six", "--format", "{{.Addresses}}"], 0, &["10.32.0.2,fd00:32::66"]),
    (&["inspect", "-f", "{{.NetworkSettings.Networks.dual.GlobalIPv6Address}}/{{.NetworkSettings.Networks.dual.GlobalIPv6PrefixLen}}", "six"], 0, &["fd00:32::66/64"]),
    (&["network", "connect", "--ip6", "fd00:32::77", "dual", "quick"], 0, &[]),
    (&["exec", "six", "getent", "ahosts", "quick"], 0, &["fd00:32::77"]),
];

#[rustfmt::skip]
const LISTS: &[Row] = &[
    (&["ps"], 0, &["CONTAINER ID", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", "NETWORKS", "\"sleep 1000\"", "Up "]),
    (&["ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"], 0, &["quick Exited (0)"]),
    (&["ps", "--filter", "name=quick", "-q"], 0, &[]),
    (&["ps", "--filter", "colour=red"], 1, &["Invalid filter 'colour'"]),
    (&["ps", "--format", "table {{.Names}}\t{{.Networks}}", "--filter", "network=mynet"], 0, &["NAMES", "m1"]),
    (&["network", "ls"], 0, &["NETWORK ID", "NAME", "DRIVER", "SCOPE", "bridge", "host", "none", "null", "local"]),
    (&["network", "ls", "--filter", "driver=null", "--format", "{{.Name}}/{{.Driver}}"], 0, &["none/null"]),
    (&["network", "ls", "--filter", "type=custom", "--format", "{{json .Name}}"], 0, &["\"mynet\"", "\"new_network\""]),
    (&["network", "inspect", "host", "none", "-f", "{{.Name}}={{.Driver}}"], 0, &["host=host", "none=null"]),
    // Docker's default pools: 172.17/16 for bridge, then whole /16s.
    (&["network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge", "new_network"], 0, &["bridge 172.17.0.0/16", "new_network 172.18.0.0/16"]),
    (&["network", "inspect", "new_network", "ghostnet"], 1, &["\"new_network\"", "Error: No such network: ghostnet"]),
    (&["network", "rm", "host"], 1, &["host is a pre-defined network and cannot be removed"]),
    (&["network", "create", "-d", "macvlan", "mv"], 1, &["\"macvlan\"", "bridge and overlay drivers"]),
    (&["network", "create", "-d", "overlay", "ov"], 1, &["the overlay driver needs a cluster"]),
    (&["network", "create", "--subnet", "10.30.1.5/24", "hostbits"], 0, &["WARNING", "10.30.1.0/24"]),
    (&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "hostbits"], 0, &["10.30.1.0/24"]),
    (&["network", "create", "--subnet", "10.31.0.0/24", "--ip-range", "10.31.0.128/25", "--aux-address", "router=10.31.0.129", "--attachable", "ranged"], 0, &[]),
    (&["run", "--name", "r1", "--net", "ranged"], 0, &[]),
    (&["inspect", "-f", "{{.NetworkSettings.Networks.ranged.IPAddress}}", "r1"], 0, &["10.31.0.130"]),
    (&["rm", "nginx01"], 1, &["You cannot remove a running container nginx01"]),
    (&["rm", "ghost"], 1, &["Error: No such container: ghost"]),
    (&["rm", "-f", "ghost"], 0, &["Error: No such container: ghost"]),
    (&["rm", "-f", "nginx01"], 0, &["nginx01"]),
    // No answer on stdin is no: nothing removed.
    (&["network", "prune"], 0, &["Are you sure you want to continue? [y/N]"]),
    (&["network", "prune", "-f", "--filter", "label=none"], 0, &[]),
    (&["network", "prune", "-f"], 0, &["Deleted Networks:", "hostbits"]),
];

#[test]
fn a_docker_users_command_lines_get_dockers_exit_codes_and_words() {
    let host = TestHost::new();
    check_rows(&host, WALKTHROUGH);
    check_rows(&host, RUN_AND_EXEC);
    check_rows(&host, LISTS);
    // `run -d` prints the id alone: the detached command's output never
    // reaches it, and it is running when `run -d` returns.
    let detached = typed(
        &host,
        &[
            "run",
            "-d",
            "--name",
            "dd",
            "--",
            "sh",
            "-c",
            "echo noise; exec sleep 1000",
        ],
    );
    let id = detached.assert_ok("run -d").stdout_text();
    assert!(id.trim().len() == 64 && !id.contains("noise"), "{id}");
    let status = typed(
        &host,
        &["ps", "--filter", "name=dd", "--format", "{{.State}}"],
    );
    assert_eq!(status.stdout_text(), "running\n");
    let ps = host.cli(&["ps", "--format", "{{.Names}}"]).stdout_text();
    let order: Vec<&str> = ps.lines().collect();
    let position = |name: &str| order.iter().position(|n| *n == name);
    assert!(
        position("r1") < position("nginx02"),
        "newest first: {order:?}"
    );
    assert!(
        !order.contains(&"quick"),
        "exited: listed with -a only: {order:?}"
    );
    host.assert_clean_after_removal();
}

/// The value at a `/`-separated path, or a panic naming the path.
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(value, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("no {path} in {value:#}"))
    })
}

#[test]
fn inspect_and_network_inspect_have_the_key_paths_the_walkthrough_shows() {
    let host = TestHost::new();
    host.cli(&[
        "network",
        "create",
        "new_network",
        "--subnet",
        "10.40.0.0/24",
    ])
    .assert_ok("network create");
    host.cli(&[
        "run",
        "--name",
        "nginx01",
        "--net",
        "new_network",
        "--ip",
        "10.40.0.9",
        "--alias",
        "web",
        "-h",
        "n1",
    ])
    .assert_ok("run");
    let all: Value = serde_json::from_str(
        &host
            .cli(&["inspect", "nginx01"])
            .assert_ok("inspect")
            .stdout_text(),
    )
    .unwrap();
    let sandbox = &all[0];
    for path in [
        "Id",
        "Created",
        "State/Status",
        "Config/Hostname",
        "HostConfig/NetworkMode",
        "HostConfig/PortBindings",
        "NetworkSettings/Ports",
        "Netagent/ResolverPort",
        "Netagent/DnsMode",
        "Netagent/Netns",
    ] {
        at(sandbox, path);
    }
    assert_eq!(at(sandbox, "Name"), "/nginx01");
    assert_eq!(at(sandbox, "Config/Hostname"), "n1");
    assert_eq!(at(sandbox, "HostConfig/NetworkMode"), "new_network");
    let entry = at(sandbox, "NetworkSettings/Networks/new_network");
    for key in [
        "IPAMConfig",
        "Links",
        "Aliases",
        "NetworkID",
        "EndpointID",
        "Gateway",
        "IPAddress",
        "IPPrefixLen",
        "IPv6Gateway",
        "GlobalIPv6Address",
        "GlobalIPv6PrefixLen",
        "MacAddress",
        "DriverOpts",
    ] {
        at(entry, key);
    }
    assert_eq!(entry["IPAddress"], "10.40.0.9");
    assert_eq!(entry["IPPrefixLen"], 24);
    assert_eq!(entry["Gateway"], "10.40.0.1");
    assert_eq!(entry["IPAMConfig"]["IPv4Address"], "10.40.0.9");
    assert!(entry["Aliases"].as_array().unwrap().contains(&"web".into()));
    let networks: Value = serde_json::from_str(
        &host
            .cli(&["network", "inspect", "new_network"])
            .assert_ok("network inspect")
            .stdout_text(),
    )
    .unwrap();
    let network = &networks[0];
    assert_eq!(entry["NetworkID"], network["Id"]);
    for path in [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM/Driver",
        "IPAM/Options",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom/Network",
        "ConfigOnly",
        "Options",
        "Labels",
    ] {
        at(network, path);
    }
    assert_eq!(network["IPAM"]["Config"][0]["Subnet"], "10.40.0.0/24");
    let id = at(sandbox, "Id").as_str().unwrap();
    let container = &network["Containers"][id];
    for key in [
        "Name",
        "EndpointID",
        "MacAddress",
        "IPv4Address",
        "IPv6Address",
    ] {
        at(container, key);
    }
    assert_eq!(container["IPv4Address"], "10.40.0.9/24");
    let hostname_file = host
        .cli(&["inspect", "-f", "{{.HostnamePath}}", "nginx01"])
        .stdout_text();
    assert_eq!(
        std::fs::read_to_string(hostname_file.trim()).unwrap(),
        "n1\n",
        "for ip netns exec"
    );
    host.assert_clean_after_removal();
}

#[test]
fn ids_and_their_prefixes_name_sandboxes_and_networks_as_in_docker_scripts() {
    let host = TestHost::new();
    let ok = |args: &[&str]| {
        typed(&host, args)
            .assert_ok(&format!("{args:?}"))
            .stdout_text()
    };
    ok(&["network", "create", "scratch"]);
    ok(&[
        "run", "-d", "--name", "one", "--net", "scratch", "--", "sleep", "1000",
    ]);
    ok(&[
        "run", "-d", "--name", "two", "--net", "scratch", "--", "sleep", "1000",
    ]);
    // `docker inspect $(docker ps -q)`, `docker rm -f $(docker ps -q)`.
    let ids: Vec<String> = ok(&["ps", "-q"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let names = ok(&["inspect", "-f", "{{.Name}}", &ids[0], &ids[1]]);
    assert!(names.contains("/one") && names.contains("/two"), "{names}");
    let short: String = ids[0].chars().take(4).collect();
    assert!(ok(&["inspect", "-f", "{{.Id}}", &short]).starts_with(&short));
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    ok(&rm);
    // `docker network ls -q --filter name=scratch | xargs docker network rm`.
    let network = ok(&["network", "ls", "-q", "--filter", "name=scratch"]);
    ok(&["network", "rm", network.trim()]);
    assert!(!ok(&["network", "ls"]).contains("scratch"));
    host.assert_clean_after_removal();
}
