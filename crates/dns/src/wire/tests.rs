use super::*;

/// A query for `name` (dotted, as written) with `qtype`, optionally with an OPT record carrying
/// the given raw options.
fn query(name: &str, qtype: u16, options: Option<&[u8]>) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(options.is_some())];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some(opts) = options {
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
        m.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        m.extend_from_slice(opts);
    }
    m
}

fn ecs_option(data: &[u8]) -> Vec<u8> {
    let mut o = vec![0, 8];
    o.extend_from_slice(&(data.len() as u16).to_be_bytes());
    o.extend_from_slice(data);
    o
}

#[test]
fn a_plain_query() {
    let m = query("Api.Edge.Test", 1, None);
    let q = parse(&m).unwrap();
    assert_eq!(q.head, Head { id: 0x1234, opcode: 0, rd: true, cd: false });
    assert_eq!((q.qtype, q.qclass, q.edns), (1, 1, None));
    assert_eq!(q.question, &m[12..]);
    let labels: Vec<&[u8]> = labels(q.qname()).collect();
    assert_eq!(labels, [&b"Api"[..], b"Edge", b"Test"]);
}

#[test]
fn edns_and_a_valid_client_subnet() {
    let m = query("a.test", 1, Some(&ecs_option(&[0, 1, 24, 0, 192, 0, 2])));
    let e = parse(&m).unwrap().edns.unwrap();
    assert_eq!((e.payload, e.version), (1232, 0));
    assert_eq!(e.ecs, Some(ClientSubnet { addr: "192.0.2.0".parse().unwrap(), source_prefix: 24 }));
    let v6 = parse_ecs(&[0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x01]).unwrap();
    assert_eq!(v6, ClientSubnet { addr: "2001:db8:0:100::".parse().unwrap(), source_prefix: 56 });
    assert_eq!(parse_ecs(&[0, 1, 0, 0]).unwrap().source_prefix, 0);
    assert_eq!(parse_ecs(&[0, 1, 21, 0, 10, 1, 0b1111_1000]).unwrap().source_prefix, 21);
}

#[test]
fn malformed_client_subnets_are_refused() {
    let bad: [&[u8]; 8] = [
        &[0, 3, 8, 0, 10],             // unknown family
        &[0, 1, 33, 0, 1, 2, 3, 4, 5], // prefix longer than IPv4
        &[0, 2, 129, 0],               // prefix longer than IPv6 (and too few bytes)
        &[0, 1, 24, 0, 192, 0],        // too few address bytes
        &[0, 1, 24, 0, 192, 0, 2, 0],  // too many address bytes
        &[0, 1, 23, 0, 192, 0, 3],     // a bit set beyond the prefix
        &[0, 1, 24, 16, 192, 0, 2],    // a scope in a query
        &[0, 1, 24],                   // cut short
    ];
    for data in bad {
        assert_eq!(parse_ecs(data), None, "{data:?}");
        let m = query("a.test", 1, Some(&ecs_option(data)));
        match parse(&m) {
            Err(Malformed::FormErr { question: Some((q, 1)), edns: Some(e), .. }) => {
                assert_eq!(q, &m[12..m.len() - 11 - 4 - data.len()]);
                assert_eq!(e.ecs, None);
            }
            other => panic!("{data:?}: {other:?}"),
        }
    }
    // Two ECS options.
    let mut two = ecs_option(&[0, 1, 0, 0]);
    two.extend(ecs_option(&[0, 1, 0, 0]));
    assert!(matches!(parse(&query("a.test", 1, Some(&two))), Err(Malformed::FormErr { .. })));
    // Other options are skipped, cut-short ones are not.
    let mut cookie = vec![0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    assert!(parse(&query("a.test", 1, Some(&cookie))).is_ok());
    cookie.truncate(9);
    assert!(matches!(parse(&query("a.test", 1, Some(&cookie))), Err(Malformed::FormErr { .. })));
}

#[test]
fn packets_that_are_not_queries() {
    assert_eq!(parse(&[]).unwrap_err(), Malformed::Drop);
    assert_eq!(parse(&[0; 11]).unwrap_err(), Malformed::Drop);
    let mut response = query("a.test", 1, None);
    response[2] |= 0x80;
    assert_eq!(parse(&response).unwrap_err(), Malformed::Drop);

    let formerr = |m: &[u8]| matches!(parse(m), Err(Malformed::FormErr { .. }));
    let mut no_question = query("a.test", 1, None);
    no_question[5] = 0;
    assert!(formerr(&no_question));
    let mut two_questions = query("a.test", 1, None);
    two_questions[5] = 2;
    assert!(formerr(&two_questions));
    let m = query("a.test", 1, None);
    assert!(formerr(&m[..m.len() - 1]), "question cut short");
    assert!(formerr(&m[..14]), "label cut short");
    let mut pointer = m.clone();
    pointer[12] = 0xC0;
    assert!(formerr(&pointer), "compressed question name");
    let mut long = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for _ in 0..5 {
        long.push(63);
        long.extend_from_slice(&[b'a'; 63]);
    }
    long.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert!(formerr(&long), "name over 255 bytes");
    assert!(formerr(&query("a.test", 41, None)), "qtype OPT");
    // Two OPT records, or one not owned by the root.
    let mut two_opts = query("a.test", 1, Some(&[]));
    two_opts[11] = 2;
    two_opts.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    assert!(formerr(&two_opts));
    let mut owned = query("a.test", 1, None);
    owned[11] = 1;
    owned.extend_from_slice(&[1, b'x', 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    assert!(formerr(&owned));
    // Records the count promises but the packet lacks.
    let mut missing = query("a.test", 1, None);
    missing[7] = 1;
    assert!(formerr(&missing));
}

#[test]
fn other_sections_are_skipped_and_the_edns_version_kept() {
    let mut m = query("a.test", 1, None);
    m[7] = 1; // one answer record, with a compressed owner
    m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    m[11] = 1;
    m.extend_from_slice(&[0, 0, 41, 0x02, 0x00, 0, 1, 0, 0, 0, 0]); // version 1
    let q = parse(&m).unwrap();
    assert_eq!(q.edns, Some(Edns { payload: 512, version: 1, ecs: None }));
}
