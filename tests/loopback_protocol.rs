//! Loopback tier, issue #14's protocol corners as real dig and kdig see
//! them. `dns serve` runs without an upstream, so a forwarded question
//! would come back SERVFAIL: every answer below is the resolver's own.

use crate::harness::clients::{dig, kdig};
use crate::harness::fixture_table;
use crate::harness::serve::ServeProcess;

fn serve() -> ServeProcess {
    ServeProcess::start(&fixture_table(), "client", None)
}

#[test]
fn localhost_is_answered_locally() {
    let server = serve();
    let v4 = dig(&server, &["localhost"]);
    assert_eq!(v4.status, "NOERROR", "{}", v4.text);
    assert_eq!(v4.answer_data(), ["127.0.0.1"], "{}", v4.text);
    let v6 = dig(&server, &["db.LocalHost.", "AAAA"]);
    assert_eq!(v6.answer_data(), ["::1"], "{}", v6.text);
}

#[test]
fn type_any_gets_the_addresses_and_class_any_finds_the_container() {
    let server = serve();
    let any = dig(&server, &["web", "ANY"]);
    assert_eq!(
        any.answer_data(),
        ["10.89.0.2", "fd00:89::2"],
        "{}",
        any.text
    );
    let class_any = dig(&server, &["-t", "A", "-c", "ANY", "web"]);
    assert_eq!(class_any.status, "NOERROR", "{}", class_any.text);
    assert_eq!(class_any.answer_data(), ["10.89.0.2"], "{}", class_any.text);
    let chaos = dig(&server, &["-t", "TXT", "-c", "CH", "web"]);
    assert_eq!(chaos.status, "REFUSED", "not forwarded: {}", chaos.text);
}

#[test]
fn soa_and_ns_at_the_networks_apex_and_its_soa_below() {
    let server = serve();
    let soa = dig(&server, &["app", "SOA"]);
    assert!(soa.flag("aa"), "{}", soa.text);
    assert_eq!(soa.answer.len(), 1, "{}", soa.text);
    assert!(
        soa.answer[0].starts_with("app. 0 IN SOA app. hostmaster.app."),
        "{}",
        soa.text
    );
    let ns = dig(&server, &["app", "NS"]);
    assert_eq!(ns.answer_data(), ["app."], "{}", ns.text);
    for qtype in ["SOA", "NS", "TXT"] {
        let below = dig(&server, &["web.app", qtype]);
        assert_eq!(below.status, "NOERROR", "{}", below.text);
        assert!(below.answer.is_empty(), "{}", below.text);
        assert!(
            below.authority[0].starts_with("app. 0 IN SOA"),
            "{}",
            below.text
        );
    }
}

#[test]
fn notimp_echoes_the_question_and_opt_without_ra() {
    let server = serve();
    let reply = dig(&server, &["+opcode=15", "web"]);
    assert_eq!(reply.status, "NOTIMP", "{}", reply.text);
    assert!(reply.has_opt, "OPT echoed: {}", reply.text);
    assert!(!reply.flag("ra"), "{}", reply.text);
    assert!(
        reply.text.contains(";web.\t"),
        "question echoed: {}",
        reply.text
    );
}

#[test]
fn kdig_sees_a_partial_answer_with_tc_over_udp() {
    let server = serve();
    let text = kdig(&server, &["many", "+notcp", "+ignore", "+noedns"]);
    assert!(text.contains(" tc"), "{text}");
    assert_eq!(
        text.matches("\tA\t10.89.").count(),
        (512 - 22) / 16,
        "{text}"
    );
}
