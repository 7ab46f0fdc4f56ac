//! Hostile-input tests for the request guard: the 12-byte `i32::MAX` array that aborts a bare
//! kafka-protocol decode, every truncation of valid requests, header edge cases, and a bounded
//! deterministic fuzz run (200k mutated inputs) so the suite itself proves "never panics".

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::schema;
use super::tests_gen::{gen_body, mutate, Rng};
use super::{decode_request, decode_request_header, GuardError, Problem};

fn header_v1(api_key: i16, version: i16, correlation_id: i32, client_id: Option<&str>) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    match client_id {
        Some(id) => {
            buf.put_i16(id.len() as i16);
            buf.put_slice(id.as_bytes());
        }
        None => buf.put_i16(-1),
    }
    buf
}

/// The regression: array length 0x7fffffff with nothing after it. A bare kafka-protocol decode
/// reserves ~200 GB here and aborts the process.
#[test]
fn huge_array_length_in_tiny_body_is_an_error_not_an_abort() {
    // Metadata v1: topics array count only.
    let got = decode_request(3, 1, Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
    assert!(
        matches!(
            got,
            Err(GuardError::Malformed {
                field: "topics",
                problem: Problem::LengthExceedsRemaining {
                    len: 0x7fff_ffff,
                    remaining: 0
                },
                ..
            })
        ),
        "{got:?}"
    );

    // Produce v3, exactly 12 bytes: null transactional id, acks, timeout, topic count.
    let body = [
        0xff, 0xff, 0xff, 0xff, 0, 0, 0x75, 0x30, 0x7f, 0xff, 0xff, 0xff,
    ];
    let got = decode_request(0, 3, Bytes::copy_from_slice(&body));
    assert!(
        matches!(
            got,
            Err(GuardError::Malformed {
                field: "topic_data",
                ..
            })
        ),
        "{got:?}"
    );

    // Same through a whole frame (header + body), as the broker sees it.
    let mut frame = header_v1(3, 1, 99, Some("kcat"));
    frame.put_i32(i32::MAX);
    let frame = frame.freeze();
    let (header, len) = decode_request_header(&frame).expect("header is valid");
    assert_eq!(header.correlation_id, 99);
    let got = decode_request(
        header.request_api_key,
        header.request_api_version,
        frame.slice(len..),
    );
    assert!(matches!(got, Err(GuardError::Malformed { .. })), "{got:?}");
}

#[test]
fn huge_compact_lengths_are_rejected() {
    // Metadata v12 (flexible): compact topics count 0xffffffff - 1 as a 5-byte varint.
    let got = decode_request(3, 12, Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert!(
        matches!(
            got,
            Err(GuardError::Malformed {
                field: "topics",
                ..
            })
        ),
        "{got:?}"
    );
    // A tagged field claiming 2^28 bytes: ApiVersions v3 with empty strings then the section.
    let got = decode_request(
        18,
        3,
        Bytes::from_static(&[1, 1, 1, 5, 0x80, 0x80, 0x80, 0x80, 0x01]),
    );
    assert!(matches!(got, Err(GuardError::Malformed { .. })), "{got:?}");
}

/// KIP-848 ConsumerGroupHeartbeat as librdkafka sends it (v1, client-generated member id,
/// null subscription and owned partitions on a plain heartbeat) decodes; a hostile compact
/// count in `topic_partitions` (or its partitions) is refused before the crate sees it.
#[test]
fn consumer_group_heartbeat_bodies() {
    use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
    use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, GroupId, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_member_id(StrBytes::from_static_str("+A08L4frQJe0KZ17UFWFDA"))
        .with_rebalance_timeout_ms(300_000)
        .with_subscribed_topic_names(Some(vec![TopicName(StrBytes::from_static_str("t"))]))
        .with_subscribed_topic_regex(Some(StrBytes::from_static_str("t.*")))
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic_id(uuid::Uuid::from_u128(7))
            .with_partitions(vec![0, 1, 2])]));
    let mut buf = BytesMut::new();
    join.encode(&mut buf, 1).unwrap();
    let got = decode_request(68, 1, buf.freeze());
    assert!(
        matches!(got, Ok(kafka_protocol::messages::RequestKind::ConsumerGroupHeartbeat(ref r)) if *r == join),
        "{got:?}"
    );

    let beat = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_member_id(StrBytes::from_static_str("m"))
        .with_member_epoch(3)
        .with_rebalance_timeout_ms(-1);
    let mut buf = BytesMut::new();
    beat.encode(&mut buf, 0).unwrap();
    assert!(decode_request(68, 0, buf.freeze()).is_ok());

    // group "g", member "m", epoch, null instance and rack, timeout, null names, null
    // regex (v1), null assignor, then a topic_partitions count of 2^32 - 2.
    let mut body = vec![
        2, b'g', 2, b'm', 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
    ];
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let got = decode_request(68, 1, Bytes::from(body));
    assert!(
        matches!(
            got,
            Err(GuardError::Malformed {
                field: "topic_partitions",
                ..
            })
        ),
        "{got:?}"
    );
    // ConsumerGroupDescribe with a group_ids count far beyond the body.
    let got = decode_request(69, 0, Bytes::from_static(&[0xff, 0xff, 0xff, 0x7f, 0]));
    assert!(
        matches!(
            got,
            Err(GuardError::Malformed {
                field: "group_ids",
                ..
            })
        ),
        "{got:?}"
    );
}

/// A known tagged field whose value is shorter than it claims would make kafka-protocol read
/// past it (it ignores the size); the guard refuses the mismatch.
#[test]
fn known_tagged_field_must_fill_its_size() {
    // Fetch v12: replica_id, max_wait_ms, min_bytes, max_bytes (4 x i32), isolation_level,
    // session_id, session_epoch, topics [], forgotten_topics_data [], rack_id "".
    let mut fixed = vec![0u8; 16];
    fixed.push(0);
    fixed.extend_from_slice(&[0; 8]);
    fixed.extend_from_slice(&[1, 1, 1]);
    // Tagged section: one field, tag 0 (cluster_id), size 2, compact string "x".
    let mut valid = fixed.clone();
    valid.extend_from_slice(&[1, 0, 2, 2, b'x']);
    assert!(decode_request(1, 12, Bytes::from(valid)).is_ok());
    // Same value but a size of 3 with a stray byte after it.
    let mut bad = fixed;
    bad.extend_from_slice(&[1, 0, 3, 2, b'x', b'y']);
    let got = decode_request(1, 12, Bytes::from(bad));
    assert!(
        matches!(
            got,
            Err(GuardError::Malformed {
                problem: Problem::TaggedFieldSize { .. },
                ..
            })
        ),
        "{got:?}"
    );
}

/// Every strict prefix of a valid body is caught by the walk itself; the crate never sees it.
#[test]
fn every_truncation_of_valid_requests_is_rejected_without_panic() {
    for msg in schema::ALL {
        for version in msg.min..=msg.max {
            let body = gen_body(msg, version, &mut Rng::new(version as u64), true);
            for cut in 0..body.len() {
                let got =
                    decode_request(msg.api_key, version, Bytes::copy_from_slice(&body[..cut]));
                assert!(
                    matches!(got, Err(GuardError::Malformed { .. })),
                    "api {} v{version} cut at {cut}/{}: {got:?}",
                    msg.api_key,
                    body.len()
                );
            }
        }
    }
}

#[test]
fn header_edge_cases() {
    for len in 0..8 {
        let frame = Bytes::from(vec![0u8; len]);
        assert_eq!(
            decode_request_header(&frame),
            Err(GuardError::FrameTooShort { len })
        );
    }
    // Unknown api key: still carries correlation id.
    let frame = header_v1(9999, 0, 42, None).freeze();
    let err = decode_request_header(&frame).unwrap_err();
    assert!(
        matches!(err, GuardError::UnsupportedApiKey { api_key: 9999, .. }),
        "{err:?}"
    );
    assert_eq!(err.correlation_id(), Some(42));
    // Version out of range (Metadata v99), and negative.
    for version in [99, -1] {
        let frame = header_v1(3, version, 43, None).freeze();
        let err = decode_request_header(&frame).unwrap_err();
        assert!(
            matches!(err, GuardError::UnsupportedVersion { api_key: 3, .. }),
            "{err:?}"
        );
        assert_eq!(err.correlation_id(), Some(43));
        assert!(decode_request(3, version, Bytes::new()).is_err());
    }
    // Client id longer than the frame.
    let mut frame = header_v1(3, 1, 44, None);
    frame.truncate(8);
    frame.put_i16(100);
    let err = decode_request_header(&frame.freeze()).unwrap_err();
    assert!(
        matches!(
            err,
            GuardError::MalformedHeader {
                correlation_id: 44,
                ..
            }
        ),
        "{err:?}"
    );
    // Header v2 (Metadata v12) with client id and an unknown tagged field; length is exact.
    let mut frame = header_v1(3, 12, 45, Some("rdkafka"));
    frame.put_slice(&[1, 9, 2, 0xaa, 0xbb]);
    let header_len = frame.len();
    frame.put_slice(&[1, 0, 0, 0]); // Metadata v12 body: topics [] + 3 bools... + tags
    let frame = frame.freeze();
    let (header, len) = decode_request_header(&frame).expect("valid v2 header");
    assert_eq!(len, header_len);
    assert_eq!(header.client_id.as_deref(), Some("rdkafka"));
    // Header v2 with a tagged field claiming more bytes than remain.
    let mut frame = header_v1(3, 12, 46, None);
    frame.put_slice(&[1, 9, 0x7f]);
    assert!(matches!(
        decode_request_header(&frame.freeze()),
        Err(GuardError::MalformedHeader {
            correlation_id: 46,
            ..
        })
    ));
    // Api keys kafka-protocol knows but the guard has no layout for are refused, not decoded.
    let covered: Vec<i16> = super::guarded_apis().map(|(k, _, _)| k).collect();
    let uncovered = ApiKey::iter()
        .find(|k| !covered.contains(&(*k as i16)))
        .expect("some");
    let v = uncovered.valid_versions().min;
    assert!(matches!(
        decode_request(uncovered as i16, v, Bytes::new()),
        Err(GuardError::UnsupportedApiKey { .. })
    ));
}

/// Valid frames (header + body) of every covered request and version, with a fixed seed.
fn valid_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut corpus = Vec::new();
    for msg in schema::ALL {
        let key = ApiKey::try_from(msg.api_key).expect("known");
        for version in msg.min..=msg.max {
            for populated in [false, true] {
                let mut frame = header_v1(msg.api_key, version, 7, Some("cli"));
                if key.request_header_version(version) >= 2 {
                    frame.put_u8(0);
                }
                frame.put_slice(&gen_body(msg, version, rng, populated));
                corpus.push(frame.to_vec());
            }
        }
    }
    corpus
}

/// Writes the valid frames as a seed corpus for `cargo fuzz run decode_request`:
/// `SLUICE_FUZZ_CORPUS=fuzz/corpus/decode_request cargo test -p sluice-protocol -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to seed the fuzzer"]
fn write_fuzz_seed_corpus() {
    let Some(dir) = std::env::var_os("SLUICE_FUZZ_CORPUS") else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    for (i, frame) in valid_frames(&mut Rng::new(0xc0ffee)).iter().enumerate() {
        let path = std::path::Path::new(&dir).join(format!("seed-{i:04}"));
        std::fs::write(path, frame).expect("write seed");
    }
}

/// The short bounded fuzz run: 200k mutated valid frames (fixed seed) through header + body
/// decoding. Any panic inside kafka-protocol shows up as `DecoderPanicked`; an abort kills the
/// test binary.
#[test]
fn bounded_fuzz_of_mutated_valid_requests() {
    let mut rng = Rng::new(0x5eed);
    let corpus = valid_frames(&mut rng);
    let mut decoded = 0;
    for _ in 0..200_000 {
        let seed = &corpus[rng.below(corpus.len())];
        let input = Bytes::from(mutate(seed, &mut rng));
        let Ok((header, len)) = decode_request_header(&input) else {
            continue;
        };
        let body = input.slice(len..);
        match decode_request(header.request_api_key, header.request_api_version, body) {
            Ok(_) => decoded += 1,
            Err(GuardError::DecoderPanicked {
                api_key,
                api_version,
                reason,
            }) => {
                panic!("kafka-protocol panicked on api {api_key} v{api_version}: {reason}; input {input:?}")
            }
            Err(_) => {}
        }
    }
    assert!(
        decoded > 1000,
        "mutations too destructive to be useful: {decoded} decoded"
    );
}
