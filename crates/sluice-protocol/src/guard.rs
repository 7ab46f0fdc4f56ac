//! The request guard: the only way the broker turns request bytes into kafka-protocol
//! messages. kafka-protocol 0.18 trusts lengths read from the wire (an array count of
//! `i32::MAX` in a 12-byte body makes it reserve ~200 GB and the process aborts), so before
//! the crate sees a body the guard walks it against the request's schema for that version
//! (`guard/schema.rs` + `guard/tables_*.rs`) and rejects any length that exceeds the bytes
//! that remain; only then does it call the crate's decoder, inside `catch_unwind` as a second
//! net. It must never panic, abort or allocate in proportion to a length it has not checked.

mod schema;
mod tables_admin;
mod tables_core;
mod tables_group;
mod tables_txn;
mod walker;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_gen;
#[cfg(test)]
mod tests_roundtrip;

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use walker::Cursor;

/// What was wrong with a length or the amount of data, without location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("needs {needed} bytes but only {remaining} remain")]
    Truncated { needed: u64, remaining: usize },
    #[error("length {len} exceeds the {remaining} bytes remaining")]
    LengthExceedsRemaining { len: u64, remaining: usize },
    #[error("invalid negative length {0}")]
    NegativeLength(i64),
    #[error("tagged field {tag} declares {size} bytes but its value is {used} bytes")]
    TaggedFieldSize { tag: u32, size: u32, used: usize },
}

/// Why a request frame was refused. Every variant that can know the api key, version and
/// correlation id carries them, so the broker can still answer (e.g. UNSUPPORTED_VERSION or
/// INVALID_REQUEST) instead of only closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Fewer than 8 bytes: not even api key, version and correlation id are there.
    #[error("request frame of {len} bytes is too short for a request header (needs 8)")]
    FrameTooShort { len: usize },
    /// kafka-protocol does not know this api key, or the guard has no layout for it.
    #[error("unsupported api key {api_key} (version {api_version})")]
    UnsupportedApiKey {
        api_key: i16,
        api_version: i16,
        correlation_id: Option<i32>,
    },
    /// The api key is known but the version is outside what kafka-protocol decodes.
    #[error("api key {api_key} version {api_version} is outside the supported range {min}-{max}")]
    UnsupportedVersion {
        api_key: i16,
        api_version: i16,
        min: i16,
        max: i16,
        correlation_id: Option<i32>,
    },
    /// The header after the first 8 bytes (client id, tagged fields) is malformed.
    #[error("malformed request header (api key {api_key} v{api_version}): {reason}")]
    MalformedHeader {
        api_key: i16,
        api_version: i16,
        correlation_id: i32,
        reason: String,
    },
    /// The schema walk found a length or count that does not fit, or the body is truncated.
    #[error(
        "malformed request (api key {api_key} v{api_version}) at {struct_name}.{field}: {problem}"
    )]
    Malformed {
        api_key: i16,
        api_version: i16,
        struct_name: &'static str,
        field: &'static str,
        problem: Problem,
    },
    /// The walk passed but kafka-protocol refused the body (bad UTF-8, null in a non-nullable
    /// field, tag not valid for the version, ...).
    #[error("request (api key {api_key} v{api_version}) failed to decode: {reason}")]
    Decode {
        api_key: i16,
        api_version: i16,
        reason: String,
    },
    /// kafka-protocol panicked; the guard caught it. Always a guard bug worth a report.
    #[error("decoder panicked on request (api key {api_key} v{api_version}): {reason}")]
    DecoderPanicked {
        api_key: i16,
        api_version: i16,
        reason: String,
    },
}

impl GuardError {
    /// The request's correlation id, when the failure happened after it was read.
    pub fn correlation_id(&self) -> Option<i32> {
        match self {
            GuardError::UnsupportedApiKey { correlation_id, .. }
            | GuardError::UnsupportedVersion { correlation_id, .. } => *correlation_id,
            GuardError::MalformedHeader { correlation_id, .. } => Some(*correlation_id),
            _ => None,
        }
    }

    fn with_correlation_id(self, id: i32) -> Self {
        match self {
            GuardError::UnsupportedApiKey {
                api_key,
                api_version,
                ..
            } => GuardError::UnsupportedApiKey {
                api_key,
                api_version,
                correlation_id: Some(id),
            },
            GuardError::UnsupportedVersion {
                api_key,
                api_version,
                min,
                max,
                ..
            } => GuardError::UnsupportedVersion {
                api_key,
                api_version,
                min,
                max,
                correlation_id: Some(id),
            },
            other => other,
        }
    }
}

/// The api key as kafka-protocol knows it, checked against the version range it decodes. For
/// covered APIs that is the guard table's range: `ApiKey::valid_versions` claims one version
/// more than the message decoders accept for OffsetCommit, OffsetFetch and InitProducerId.
fn check_api(api_key: i16, api_version: i16) -> Result<ApiKey, GuardError> {
    let key = ApiKey::try_from(api_key).map_err(|_| GuardError::UnsupportedApiKey {
        api_key,
        api_version,
        correlation_id: None,
    })?;
    let (min, max) = match schema::lookup(api_key) {
        Some(msg) => (msg.min, msg.max),
        None => {
            let range = key.valid_versions();
            (range.min, range.max)
        }
    };
    if api_version < min || api_version > max {
        return Err(GuardError::UnsupportedVersion {
            api_key,
            api_version,
            min,
            max,
            correlation_id: None,
        });
    }
    Ok(key)
}

/// Decodes a request header from the start of `frame` (the bytes after the 4-byte size
/// prefix). Returns the header and its length in bytes; the body starts there. Unknown api
/// keys and versions are errors that still carry api key, version and correlation id.
pub fn decode_request_header(frame: &Bytes) -> Result<(RequestHeader, usize), GuardError> {
    let mut cur = Cursor::new(frame);
    let fixed = (cur.i16(), cur.i16(), cur.i32());
    let (Ok(api_key), Ok(api_version), Ok(correlation_id)) = fixed else {
        return Err(GuardError::FrameTooShort { len: frame.len() });
    };
    let key = check_api(api_key, api_version).map_err(|e| e.with_correlation_id(correlation_id))?;
    let header_version = key.request_header_version(api_version);
    let malformed = |reason: String| GuardError::MalformedHeader {
        api_key,
        api_version,
        correlation_id,
        reason,
    };
    let base = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id);
    if header_version == 0 {
        return Ok((base, 8));
    }
    walk_header_rest(&mut cur, header_version).map_err(|p| malformed(p.to_string()))?;
    let header_len = frame.len() - cur.remaining();
    let mut buf = frame.slice(..header_len);
    match catch_unwind(AssertUnwindSafe(|| {
        RequestHeader::decode(&mut buf, header_version)
    })) {
        Ok(Ok(header)) => Ok((header, header_len)),
        Ok(Err(e)) => Err(malformed(e.to_string())),
        Err(panic) => Err(malformed(format!(
            "decoder panicked: {}",
            panic_message(&panic)
        ))),
    }
}

/// Client id (nullable classic string) and, for header v2, the tagged-field section.
fn walk_header_rest(cur: &mut Cursor<'_>, header_version: i16) -> Result<(), Problem> {
    match cur.i16()? {
        -1 => {}
        n if n < -1 => return Err(Problem::NegativeLength(i64::from(n))),
        n => {
            cur.take(n as usize)?;
        }
    }
    if header_version >= 2 {
        let count = cur.uvarint()?;
        for _ in 0..count {
            cur.uvarint()?;
            let size = cur.uvarint()?;
            if u64::from(size) > cur.remaining() as u64 {
                return Err(Problem::LengthExceedsRemaining {
                    len: u64::from(size),
                    remaining: cur.remaining(),
                });
            }
            cur.take(size as usize)?;
        }
    }
    Ok(())
}

/// Decodes a request body (the bytes after the header) of `api_key` at `api_version`. Never
/// panics or aborts: the body is walked against the request's schema first, and the decoder
/// runs inside `catch_unwind`.
pub fn decode_request(
    api_key: i16,
    api_version: i16,
    body: Bytes,
) -> Result<RequestKind, GuardError> {
    let key = check_api(api_key, api_version)?;
    let msg = schema::lookup(api_key).ok_or(GuardError::UnsupportedApiKey {
        api_key,
        api_version,
        correlation_id: None,
    })?;
    walker::walk_body(msg.body, api_version, &body).map_err(|v| GuardError::Malformed {
        api_key,
        api_version,
        struct_name: v.struct_name,
        field: v.field,
        problem: v.problem,
    })?;
    let mut buf = body;
    match catch_unwind(AssertUnwindSafe(|| {
        RequestKind::decode(key, &mut buf, api_version)
    })) {
        Ok(Ok(request)) => Ok(request),
        Ok(Err(e)) => Err(GuardError::Decode {
            api_key,
            api_version,
            reason: e.to_string(),
        }),
        Err(panic) => Err(GuardError::DecoderPanicked {
            api_key,
            api_version,
            reason: panic_message(&panic),
        }),
    }
}

/// The api keys (and their version ranges) whose bodies the guard can check.
pub fn guarded_apis() -> impl Iterator<Item = (i16, i16, i16)> {
    schema::ALL.iter().map(|m| (m.api_key, m.min, m.max))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
