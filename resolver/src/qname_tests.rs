//! Tests of [`super`]: keys, suffixes, the domain, reverse names.

use super::*;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// `of_wire` of a name's bytes gives what `of` gives the name a
/// decoder reads from them, and nothing when the decoder reads none.
#[test]
fn a_key_from_the_wire_is_the_key_of_the_decoded_name() {
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
    let labels = |lens: &[usize]| -> Vec<u8> {
        let mut wire = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            wire.push(len as u8);
            wire.extend(std::iter::repeat_n(b'a' + i as u8, len));
        }
        wire.push(0);
        wire
    };
    let mut samples: Vec<Vec<u8>> = vec![
        vec![0],
        b"\x03WeB\x03APP\x00".to_vec(),
        b"\x01_\x03t-p\x00".to_vec(),
        b"\x03w*b\x00".to_vec(),
        b"\x03w.b\x00".to_vec(),
        b"\x03w\xffb\x00".to_vec(),
        b"\x03web".to_vec(),
        b"\x03web\xc0\x0c".to_vec(),
        b"\x40".to_vec(),
        b"\x80\x00".to_vec(),
        labels(&[63, 63, 63, 61]),
        labels(&[63, 63, 63, 62]),
        labels(&[63, 63, 63, 63]),
        labels(&[1; 127]),
        labels(&[1; 128]),
    ];
    samples.push([labels(&[63, 63, 63, 61]), vec![0, 1]].concat());
    for wire in samples {
        let mut decoder = BinDecoder::new(&wire);
        let decoded = Name::read(&mut decoder).ok();
        let from_wire = NameKey::of_wire(&wire);
        let want = decoded.as_ref().and_then(NameKey::of);
        assert_eq!(
            from_wire
                .as_ref()
                .map(|(key, _)| (key.as_str(), key.labels())),
            want.as_ref().map(|key| (key.as_str(), key.labels())),
            "{wire:?}"
        );
        if let Some((_, len)) = from_wire {
            assert_eq!(len, decoder.index(), "read as far: {wire:?}");
        }
    }
}

#[test]
fn key_is_lower_case_without_trailing_dot() {
    let key = NameKey::of(&name("Web.APP.")).unwrap();
    assert_eq!(key.as_str(), "web.app");
    assert_eq!(key.labels(), 2);
    assert_eq!(NameKey::of(&Name::root()).unwrap().as_str(), "");
    assert!(NameKey::of(&Name::from_labels([b"we*b".as_slice(), b"app"]).unwrap()).is_none());
}

#[test]
fn suffixes_and_services() {
    let key = NameKey::of(&name("_http._tcp.web.app.")).unwrap();
    let suffixes: Vec<_> = key.parent_suffixes().collect();
    assert_eq!(suffixes, [("_tcp.web.app", 3), ("web.app", 2), ("app", 1)]);
    assert_eq!(key.split_service(), Some(("http", "tcp", "web.app")));
    assert_eq!(
        NameKey::of(&name("web.app.")).unwrap().split_service(),
        None
    );
}

#[test]
fn the_domain_is_cut_off_the_key_in_place() {
    let domain = LocalDomain::new("Netagent.Internal.");
    assert_eq!((domain.as_str(), domain.labels()), ("netagent.internal", 2));
    let mut key = NameKey::of(&name("_http._tcp.Web.APP.netagent.INTERNAL.")).unwrap();
    assert_eq!(key.strip_domain(&domain), DomainPlace::Under);
    assert_eq!((key.as_str(), key.labels()), ("_http._tcp.web.app", 4));
    assert_eq!(key.split_service(), Some(("http", "tcp", "web.app")));
    let mut apex = NameKey::of(&name("NETAGENT.internal")).unwrap();
    assert_eq!(apex.strip_domain(&domain), DomainPlace::Apex);
    for outside in [
        "web",
        "netagent",
        "internal",
        "xnetagent.internal",
        "web.internal",
    ] {
        let mut key = NameKey::of(&name(outside)).unwrap();
        assert_eq!(key.strip_domain(&domain), DomainPlace::Outside, "{outside}");
        assert_eq!(key.as_str(), outside);
    }
    let mut key = NameKey::of(&name("web.netagent.internal")).unwrap();
    assert_eq!(
        key.strip_domain(&LocalDomain::default()),
        DomainPlace::Outside
    );
    assert_eq!(key.as_str(), "web.netagent.internal");
}

#[test]
fn the_domain_holds_names_of_any_bytes() {
    let domain = LocalDomain::new("netagent.internal");
    let odd = Name::from_labels([b"we*b".as_slice(), b"NetAgent", b"internal"]).unwrap();
    assert!(domain.holds(&odd));
    assert!(domain.holds(&name("netagent.internal.")));
    assert!(!domain.holds(&name("internal.")));
    assert!(!domain.holds(&name("xnetagent.internal.")));
    assert!(!LocalDomain::default().holds(&odd));
}

#[test]
fn reverse_names_in_any_case() {
    assert_eq!(
        reverse_address(&name("4.3.2.10.IN-ADDR.arpa.")),
        Some("10.2.3.4".parse().unwrap())
    );
    let v6: Ipv6Addr = "fd00::1:abcd".parse().unwrap();
    let labels: String = format!("{:032x}", u128::from(v6))
        .chars()
        .rev()
        .map(|c| format!("{}.", c.to_ascii_uppercase()))
        .collect();
    assert_eq!(
        reverse_address(&name(&format!("{labels}Ip6.ARPA."))),
        Some(IpAddr::V6(v6))
    );
    for partial in [
        "3.2.10.in-addr.arpa.",
        "4.3.2.010.in-addr.arpa.",
        "4.3.2.300.in-addr.arpa.",
        "4.3.2.1.example.com.",
    ] {
        assert_eq!(reverse_address(&name(partial)), None, "{partial}");
    }
}
