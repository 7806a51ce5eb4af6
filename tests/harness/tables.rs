//! Small endpoint tables built in code, for tests that need networks of a
//! particular kind (internal, with their own DNS servers).

use config::NameServer;
use resolver::{Endpoint, EndpointTable, Network};

/// The id every test sandbox `client` has.
pub const CLIENT_ID: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";

/// A table with one sandbox, `client`, on each of `networks`.
pub fn client_on(networks: Vec<Network>) -> EndpointTable {
    let table = EndpointTable::new();
    for (i, network) in networks.into_iter().enumerate() {
        let name = network.name.clone();
        table.add_network(network).unwrap();
        table
            .connect(Endpoint {
                sandbox: "client".into(),
                id: CLIENT_ID.into(),
                hostname: None,
                network: name,
                aliases: vec![],
                ipv4: Some(format!("10.{i}.0.2").parse().unwrap()),
                ipv6: None,
                services: vec![],
            })
            .unwrap();
    }
    table
}

/// A network named `name`.
pub fn network(name: &str, internal: bool, dns: &[NameServer]) -> Network {
    Network {
        name: name.into(),
        id: format!("{:0>64}", name.len()),
        subnets: vec![],
        internal,
        dns: dns.to_vec(),
    }
}
