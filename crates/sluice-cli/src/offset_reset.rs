//! The pure part of `consumer-groups --reset-offsets`: parsing `--to-datetime` (Kafka's
//! `YYYY-MM-DDTHH:mm:SS.sss[zone]`, UTC when no zone) and `--by-duration` (ISO-8601
//! `PnDTnHnMnS`, as java.time.Duration reads it), and computing each partition's new offset
//! from its committed offset, log start and log end offsets with Kafka's clamping rules.
//! No I/O.

/// What `--reset-offsets` moves offsets to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    Earliest,
    Latest,
    Current,
    ToOffset(i64),
    ShiftBy(i64),
    /// The first offset whose timestamp is at or after this time (ms), from
    /// `--to-datetime` or `--by-duration`.
    Timestamp(i64),
}

/// What the broker told us about one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionState {
    pub committed: Option<i64>,
    pub log_start: i64,
    pub log_end: i64,
    /// ListOffsets by timestamp: `None` when not asked, `Some(-1)` when no record is that new.
    pub by_timestamp: Option<i64>,
}

/// The new offset of one partition, Kafka's way: explicit offsets and shifts are clamped to
/// `[log start, log end]`; a timestamp past the last record falls back to the log end;
/// `--to-current` keeps the committed offset (log end when none). `what` names the partition
/// in errors (`topic-partition`).
pub fn new_offset(spec: ResetSpec, p: &PartitionState, what: &str) -> Result<i64, String> {
    let clamp = |o: i64| o.min(p.log_end).max(p.log_start);
    Ok(match spec {
        ResetSpec::Earliest => p.log_start,
        ResetSpec::Latest => p.log_end,
        ResetSpec::Current => p.committed.unwrap_or(p.log_end),
        ResetSpec::ToOffset(o) => clamp(o),
        ResetSpec::ShiftBy(n) => {
            let c = p.committed.ok_or_else(|| {
                format!("Cannot shift offset for partition {what} since there is no current committed offset")
            })?;
            clamp(c.saturating_add(n))
        }
        ResetSpec::Timestamp(_) => match p.by_timestamp {
            Some(o) if o >= 0 => o,
            _ => p.log_end,
        },
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a zone suffix: `Z`, `+HH`, `+HHMM`, `+HH:MM` (or `-`) → offset in minutes.
fn zone_minutes(z: &str) -> Option<i64> {
    if z == "Z" || z == "z" {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = z[1..].replace(':', "");
    let (h, m) = match rest.len() {
        2 => (num(&rest, 2)?, 0),
        4 => (num(&rest[..2], 2)?, num(&rest[2..], 2)?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 60 + m))
}

/// Kafka's `--to-datetime`: `YYYY-MM-DDTHH:mm:SS[.sss][zone]` → ms since the epoch. Without a
/// zone the time is UTC (Kafka appends `Z`).
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("Unparseable date: \"{s}\" (expected YYYY-MM-DDTHH:mm:SS.sss, optionally followed by Z or an offset such as +01:00)")
    };
    let (date, time) = s.split_once('T').ok_or_else(|| {
        "Error parsing timestamp. It does not contain a 'T' according to ISO8601 format".to_string()
    })?;
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else {
        return Err(bad());
    };
    let (y, mo, da) = (
        num(y, 4).ok_or_else(bad)?,
        num(mo, 2).ok_or_else(bad)?,
        num(da, 2).ok_or_else(bad)?,
    );
    // Split the zone off the time: the first 'Z', '+' or '-' after HH:mm:SS.
    let zpos = time.find(['Z', 'z', '+', '-']);
    let (clock, zone) = match zpos {
        Some(i) => (&time[..i], Some(&time[i..])),
        None => (time, None),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (clock, None),
    };
    let t: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = t.as_slice() else {
        return Err(bad());
    };
    let (h, mi, se) = (
        num(h, 2).ok_or_else(bad)?,
        num(mi, 2).ok_or_else(bad)?,
        num(se, 2).ok_or_else(bad)?,
    );
    let ms = match frac {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) => {
            num(f, f.len()).ok_or_else(bad)? * 10i64.pow(3 - f.len() as u32)
        }
        Some(_) => return Err(bad()),
    };
    let dim = [
        31,
        if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            29
        } else {
            28
        },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || da < 1
        || da > dim[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || se > 59
    {
        return Err(bad());
    }
    let offset_min = match zone {
        None => 0,
        Some(z) => zone_minutes(z).ok_or_else(bad)?,
    };
    let days = days_from_civil(y, mo, da);
    Ok((((days * 24 + h) * 60 + mi - offset_min) * 60 + se) * 1000 + ms)
}

/// java.time.Duration.parse: `[-+]PnDTnHnMn.nS` (each number may be signed) → ms.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("Text cannot be parsed to a Duration: \"{s}\" (expected PnDTnHnMnS, e.g. PT15M or P1DT2H)")
    };
    let upper = s.to_ascii_uppercase();
    let (neg, rest) = match upper.as_bytes().first() {
        Some(b'-') => (true, &upper[1..]),
        Some(b'+') => (false, &upper[1..]),
        _ => (false, upper.as_str()),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (days_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad());
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut total: i128 = 0;
    let mut any = false;
    if !days_part.is_empty() {
        let n = days_part.strip_suffix('D').ok_or_else(bad)?;
        total += signed(n).ok_or_else(bad)? as i128 * 86_400_000;
        any = true;
    }
    if let Some(mut t) = time_part {
        for (unit, ms) in [('H', 3_600_000i128), ('M', 60_000)] {
            if let Some(i) = t.find(unit) {
                // 'M' must not be confused with a later 'S' component's content.
                let n = signed(&t[..i]).ok_or_else(bad)?;
                total += n as i128 * ms;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            let n = t.strip_suffix('S').ok_or_else(bad)?;
            let (whole, frac) = match n.split_once(['.', ',']) {
                Some((w, f)) => (w, f),
                None => (n, ""),
            };
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let w = signed(whole).ok_or_else(bad)? as i128;
            let mut f_ms: i128 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
            if whole.starts_with('-') {
                f_ms = -f_ms;
            }
            total += w * 1000 + f_ms;
            any = true;
        }
    }
    if !any {
        return Err(bad());
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).map_err(|_| bad())
}

fn signed(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(committed: Option<i64>, start: i64, end: i64) -> PartitionState {
        PartitionState {
            committed,
            log_start: start,
            log_end: end,
            by_timestamp: None,
        }
    }

    #[test]
    fn offsets_are_clamped_to_the_log() {
        let p = st(Some(5), 2, 10);
        assert_eq!(new_offset(ResetSpec::ToOffset(7), &p, "t-0"), Ok(7));
        assert_eq!(new_offset(ResetSpec::ToOffset(50), &p, "t-0"), Ok(10));
        assert_eq!(new_offset(ResetSpec::ToOffset(0), &p, "t-0"), Ok(2));
        assert_eq!(new_offset(ResetSpec::ShiftBy(-2), &p, "t-0"), Ok(3));
        assert_eq!(new_offset(ResetSpec::ShiftBy(-100), &p, "t-0"), Ok(2));
        assert_eq!(new_offset(ResetSpec::ShiftBy(100), &p, "t-0"), Ok(10));
        assert_eq!(new_offset(ResetSpec::Earliest, &p, "t-0"), Ok(2));
        assert_eq!(new_offset(ResetSpec::Latest, &p, "t-0"), Ok(10));
        assert_eq!(new_offset(ResetSpec::Current, &p, "t-0"), Ok(5));
        assert_eq!(
            new_offset(ResetSpec::Current, &st(None, 2, 10), "t-0"),
            Ok(10)
        );
    }

    #[test]
    fn shift_needs_a_committed_offset() {
        let e = new_offset(ResetSpec::ShiftBy(1), &st(None, 0, 3), "t-1").unwrap_err();
        assert_eq!(
            e,
            "Cannot shift offset for partition t-1 since there is no current committed offset"
        );
    }

    #[test]
    fn timestamp_falls_back_to_log_end() {
        let mut p = st(Some(1), 0, 9);
        p.by_timestamp = Some(4);
        assert_eq!(new_offset(ResetSpec::Timestamp(0), &p, "t-0"), Ok(4));
        p.by_timestamp = Some(-1);
        assert_eq!(new_offset(ResetSpec::Timestamp(0), &p, "t-0"), Ok(9));
    }

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000"), Ok(0));
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.000"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.5Z"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(parse_datetime("2023-11-14T22:13:20"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_datetime("2023-11-14T23:13:20.000+01:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-14T21:13:20.000-0100"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00.000"),
            Ok(1_709_164_800_000)
        );
        assert!(parse_datetime("2023-11-14 22:13:20")
            .unwrap_err()
            .contains("'T'"));
        for bad in [
            "2023-13-01T00:00:00",
            "2023-02-29T00:00:00",
            "2023-01-01T24:00:00",
            "x-y-zT1:2:3",
            "2023-01-01T00:00:00.0000",
            "2023-01-01T00:00:00+5",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT15M"), Ok(900_000));
        assert_eq!(parse_duration("P1DT2H3M4.5S"), Ok(93_784_500));
        assert_eq!(parse_duration("P2D"), Ok(172_800_000));
        assert_eq!(parse_duration("pt1s"), Ok(1_000));
        assert_eq!(parse_duration("-PT1H"), Ok(-3_600_000));
        assert_eq!(parse_duration("PT-1.5S"), Ok(-1_500));
        for bad in ["", "P", "PT", "15M", "PT1X", "P1H", "PTM", "P1DT"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
