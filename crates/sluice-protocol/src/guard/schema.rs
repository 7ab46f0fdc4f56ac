//! The field DSL the request guard walks: a request is a struct (`S`) of fields (`F`), each
//! present in an inclusive version range and read in one wire form (`Ty`). Classic and compact
//! forms of the same field are separate rows with disjoint version ranges, so the walker never
//! has to guess which form a version uses. Tagged fields carry their tag and are read only from
//! the tagged-field section of flexible versions. This module holds types and the api-key
//! lookup only; it must never decode anything.

use super::{tables_admin, tables_core, tables_group, tables_txn};

/// `S::flexible` for structs that have no flexible versions (no tagged-field sections).
pub(crate) const NOT_FLEXIBLE: i16 = i16::MAX;

/// How one field is laid out on the wire.
#[derive(Debug)]
pub(crate) enum Ty {
    /// A fixed-width value of this many bytes (int8..int64, uint16/32, float64, bool, uuid).
    Fixed(usize),
    /// `STRING` / `NULLABLE_STRING`: i16 length, -1 = null.
    Str,
    /// `COMPACT_STRING`: unsigned varint length + 1, 0 = null.
    CStr,
    /// `BYTES` / `RECORDS` (classic): i32 length, -1 = null.
    Bytes,
    /// `COMPACT_BYTES` / `COMPACT_RECORDS`: unsigned varint length + 1, 0 = null.
    CBytes,
    /// Classic array: i32 element count, -1 = null.
    Arr(&'static Ty),
    /// Compact array: unsigned varint element count + 1, 0 = null.
    CArr(&'static Ty),
    /// A nested struct, read inline.
    Struct(&'static S),
    /// A nullable nested struct: i8 marker, 1 = present (anything else = null). None of the
    /// covered requests has one yet; kept so adding e.g. a share-group API is table-only.
    #[allow(dead_code)]
    OptStruct(&'static S),
}

pub(crate) const I8: Ty = Ty::Fixed(1);
pub(crate) const BOOL: Ty = Ty::Fixed(1);
pub(crate) const I16: Ty = Ty::Fixed(2);
pub(crate) const I32: Ty = Ty::Fixed(4);
pub(crate) const I64: Ty = Ty::Fixed(8);
pub(crate) const UUID: Ty = Ty::Fixed(16);

/// One field row: name (for error messages), inclusive version range, wire form, and the tag
/// if the field lives in the tagged-field section.
#[derive(Debug)]
pub(crate) struct F {
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    pub ty: Ty,
    pub tag: Option<u32>,
}

impl F {
    pub(crate) fn present_in(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// A regular (positional) field row.
pub(crate) const fn f(name: &'static str, min: i16, max: i16, ty: Ty) -> F {
    F {
        name,
        min,
        max,
        ty,
        tag: None,
    }
}

/// A tagged field row (read from the tagged-field section when `min..=max` holds).
pub(crate) const fn tagged(name: &'static str, tag: u32, min: i16, max: i16, ty: Ty) -> F {
    F {
        name,
        min,
        max,
        ty,
        tag: Some(tag),
    }
}

/// A struct: its Kafka/kafka-protocol name, first flexible version, and fields in wire order.
#[derive(Debug)]
pub(crate) struct S {
    pub name: &'static str,
    pub flexible: i16,
    pub fields: &'static [F],
}

/// A request message: api key, the version range kafka-protocol decodes, and the body struct.
#[derive(Debug)]
pub(crate) struct Msg {
    pub api_key: i16,
    pub min: i16,
    pub max: i16,
    pub body: &'static S,
}

/// Every request the guard can vouch for.
pub(crate) static ALL: &[&Msg] = &[
    &tables_core::API_VERSIONS,
    &tables_core::METADATA,
    &tables_core::PRODUCE,
    &tables_core::FETCH,
    &tables_core::LIST_OFFSETS,
    &tables_core::DELETE_RECORDS,
    &tables_core::OFFSET_FOR_LEADER_EPOCH,
    &tables_core::INIT_PRODUCER_ID,
    &tables_core::DESCRIBE_CLUSTER,
    &tables_core::DESCRIBE_QUORUM,
    &tables_core::UNREGISTER_BROKER,
    &tables_core::SASL_HANDSHAKE,
    &tables_core::SASL_AUTHENTICATE,
    &tables_admin::CREATE_TOPICS,
    &tables_admin::DELETE_TOPICS,
    &tables_admin::CREATE_PARTITIONS,
    &tables_admin::DESCRIBE_CONFIGS,
    &tables_admin::ALTER_CONFIGS,
    &tables_admin::INCREMENTAL_ALTER_CONFIGS,
    &tables_admin::ELECT_LEADERS,
    &tables_admin::ALTER_PARTITION_REASSIGNMENTS,
    &tables_admin::LIST_PARTITION_REASSIGNMENTS,
    &tables_admin::DESCRIBE_LOG_DIRS,
    &tables_admin::DESCRIBE_PRODUCERS,
    &tables_admin::DESCRIBE_ACLS,
    &tables_admin::CREATE_ACLS,
    &tables_admin::DELETE_ACLS,
    &tables_group::FIND_COORDINATOR,
    &tables_group::JOIN_GROUP,
    &tables_group::HEARTBEAT,
    &tables_group::LEAVE_GROUP,
    &tables_group::SYNC_GROUP,
    &tables_group::DESCRIBE_GROUPS,
    &tables_group::LIST_GROUPS,
    &tables_group::OFFSET_COMMIT,
    &tables_group::OFFSET_FETCH,
    &tables_group::DELETE_GROUPS,
    &tables_group::OFFSET_DELETE,
    &tables_group::CONSUMER_GROUP_HEARTBEAT,
    &tables_group::CONSUMER_GROUP_DESCRIBE,
    &tables_txn::ADD_PARTITIONS_TO_TXN,
    &tables_txn::ADD_OFFSETS_TO_TXN,
    &tables_txn::END_TXN,
    &tables_txn::TXN_OFFSET_COMMIT,
    &tables_txn::WRITE_TXN_MARKERS,
];

/// The layout for `api_key`, if the guard covers it.
pub(crate) fn lookup(api_key: i16) -> Option<&'static Msg> {
    ALL.iter().copied().find(|m| m.api_key == api_key)
}
