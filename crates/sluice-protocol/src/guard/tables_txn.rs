//! Request layouts for the transaction APIs (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! TxnOffsetCommit, WriteTxnMarkers).
//!
//! Pure data for the request guard's walker (see `schema.rs` for the field DSL). Layouts are
//! Kafka 4.1's message schemas exactly as kafka-protocol 0.18 decodes them: one row per field
//! and wire form, with the inclusive version range in which that form is read. Must never
//! contain logic; a wrong row either rejects valid clients or lets the crate see an unchecked
//! length, and `tests_roundtrip.rs` checks every row against the crate.

use super::schema::{f, Msg, Ty::*, BOOL, I16, I32, I64, S};

/// AddPartitionsToTxn (api key 24), versions 0-5.
pub(crate) static ADD_PARTITIONS_TO_TXN: Msg = Msg {
    api_key: 24,
    min: 0,
    max: 5,
    body: &ADD_PARTITIONS_TO_TXN_REQUEST,
};
static ADD_PARTITIONS_TO_TXN_REQUEST: S = S {
    name: "AddPartitionsToTxnRequest",
    flexible: 3,
    fields: &[
        f(
            "transactions",
            4,
            5,
            CArr(&Struct(&ADD_PARTITIONS_TO_TXN_TRANSACTION)),
        ),
        f("v3_and_below_transactional_id", 3, 3, CStr),
        f("v3_and_below_transactional_id", 0, 2, Str),
        f("v3_and_below_producer_id", 0, 3, I64),
        f("v3_and_below_producer_epoch", 0, 3, I16),
        f(
            "v3_and_below_topics",
            3,
            3,
            CArr(&Struct(&ADD_PARTITIONS_TO_TXN_TOPIC)),
        ),
        f(
            "v3_and_below_topics",
            0,
            2,
            Arr(&Struct(&ADD_PARTITIONS_TO_TXN_TOPIC)),
        ),
    ],
};
static ADD_PARTITIONS_TO_TXN_TOPIC: S = S {
    name: "AddPartitionsToTxnTopic",
    flexible: 3,
    fields: &[
        f("name", 3, 5, CStr),
        f("name", 0, 2, Str),
        f("partitions", 3, 5, CArr(&I32)),
        f("partitions", 0, 2, Arr(&I32)),
    ],
};
static ADD_PARTITIONS_TO_TXN_TRANSACTION: S = S {
    name: "AddPartitionsToTxnTransaction",
    flexible: 3,
    fields: &[
        f("transactional_id", 4, 5, CStr),
        f("producer_id", 4, 5, I64),
        f("producer_epoch", 4, 5, I16),
        f("verify_only", 4, 5, BOOL),
        f("topics", 4, 5, CArr(&Struct(&ADD_PARTITIONS_TO_TXN_TOPIC))),
    ],
};

/// AddOffsetsToTxn (api key 25), versions 0-4.
pub(crate) static ADD_OFFSETS_TO_TXN: Msg = Msg {
    api_key: 25,
    min: 0,
    max: 4,
    body: &ADD_OFFSETS_TO_TXN_REQUEST,
};
static ADD_OFFSETS_TO_TXN_REQUEST: S = S {
    name: "AddOffsetsToTxnRequest",
    flexible: 3,
    fields: &[
        f("transactional_id", 3, 4, CStr),
        f("transactional_id", 0, 2, Str),
        f("producer_id", 0, 4, I64),
        f("producer_epoch", 0, 4, I16),
        f("group_id", 3, 4, CStr),
        f("group_id", 0, 2, Str),
    ],
};

/// EndTxn (api key 26), versions 0-5.
pub(crate) static END_TXN: Msg = Msg {
    api_key: 26,
    min: 0,
    max: 5,
    body: &END_TXN_REQUEST,
};
static END_TXN_REQUEST: S = S {
    name: "EndTxnRequest",
    flexible: 3,
    fields: &[
        f("transactional_id", 3, 5, CStr),
        f("transactional_id", 0, 2, Str),
        f("producer_id", 0, 5, I64),
        f("producer_epoch", 0, 5, I16),
        f("committed", 0, 5, BOOL),
    ],
};

/// TxnOffsetCommit (api key 28), versions 0-5.
pub(crate) static TXN_OFFSET_COMMIT: Msg = Msg {
    api_key: 28,
    min: 0,
    max: 5,
    body: &TXN_OFFSET_COMMIT_REQUEST,
};
static TXN_OFFSET_COMMIT_REQUEST: S = S {
    name: "TxnOffsetCommitRequest",
    flexible: 3,
    fields: &[
        f("transactional_id", 3, 5, CStr),
        f("transactional_id", 0, 2, Str),
        f("group_id", 3, 5, CStr),
        f("group_id", 0, 2, Str),
        f("producer_id", 0, 5, I64),
        f("producer_epoch", 0, 5, I16),
        f("generation_id", 3, 5, I32),
        f("member_id", 3, 5, CStr),
        f("group_instance_id", 3, 5, CStr),
        f(
            "topics",
            3,
            5,
            CArr(&Struct(&TXN_OFFSET_COMMIT_REQUEST_TOPIC)),
        ),
        f(
            "topics",
            0,
            2,
            Arr(&Struct(&TXN_OFFSET_COMMIT_REQUEST_TOPIC)),
        ),
    ],
};
static TXN_OFFSET_COMMIT_REQUEST_PARTITION: S = S {
    name: "TxnOffsetCommitRequestPartition",
    flexible: 3,
    fields: &[
        f("partition_index", 0, 5, I32),
        f("committed_offset", 0, 5, I64),
        f("committed_leader_epoch", 2, 5, I32),
        f("committed_metadata", 3, 5, CStr),
        f("committed_metadata", 0, 2, Str),
    ],
};
static TXN_OFFSET_COMMIT_REQUEST_TOPIC: S = S {
    name: "TxnOffsetCommitRequestTopic",
    flexible: 3,
    fields: &[
        f("name", 3, 5, CStr),
        f("name", 0, 2, Str),
        f(
            "partitions",
            3,
            5,
            CArr(&Struct(&TXN_OFFSET_COMMIT_REQUEST_PARTITION)),
        ),
        f(
            "partitions",
            0,
            2,
            Arr(&Struct(&TXN_OFFSET_COMMIT_REQUEST_PARTITION)),
        ),
    ],
};

/// WriteTxnMarkers (api key 27), versions 1-1.
pub(crate) static WRITE_TXN_MARKERS: Msg = Msg {
    api_key: 27,
    min: 1,
    max: 1,
    body: &WRITE_TXN_MARKERS_REQUEST,
};
static WRITABLE_TXN_MARKER: S = S {
    name: "WritableTxnMarker",
    flexible: 1,
    fields: &[
        f("producer_id", 1, 1, I64),
        f("producer_epoch", 1, 1, I16),
        f("transaction_result", 1, 1, BOOL),
        f("topics", 1, 1, CArr(&Struct(&WRITABLE_TXN_MARKER_TOPIC))),
        f("coordinator_epoch", 1, 1, I32),
    ],
};
static WRITABLE_TXN_MARKER_TOPIC: S = S {
    name: "WritableTxnMarkerTopic",
    flexible: 1,
    fields: &[
        f("name", 1, 1, CStr),
        f("partition_indexes", 1, 1, CArr(&I32)),
    ],
};
static WRITE_TXN_MARKERS_REQUEST: S = S {
    name: "WriteTxnMarkersRequest",
    flexible: 1,
    fields: &[f("markers", 1, 1, CArr(&Struct(&WRITABLE_TXN_MARKER)))],
};
