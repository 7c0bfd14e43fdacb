//! The line parser: RFC 8866 §9 grammar, liberal about line endings,
//! blank lines and trailing whitespace, strict about order and syntax.

use crate::attribute::{self, names, Attribute};
use crate::candidate::{is_token, parse_digits};
use crate::description::{
    Bandwidth, Connection, Origin, Repeat, SessionDescription, TimeUnit, TimeZoneAdjustment,
    Timing, TypedTime,
};
use crate::error::{ErrorKind, Limit, ParseError, ParseLimits};
use crate::media::MediaDescription;

/// Position of a session-level line type in the grammar (RFC 8866 §9).
fn session_rank(t: u8) -> Option<u8> {
    Some(match t {
        b'v' => 0,
        b'o' => 1,
        b's' => 2,
        b'i' => 3,
        b'u' => 4,
        b'e' => 5,
        b'p' => 6,
        b'c' => 7,
        b'b' => 8,
        b't' | b'r' => 9,
        b'z' => 10,
        b'k' => 11,
        b'a' => 12,
        b'm' => 13,
        _ => return None,
    })
}

/// Position of a media-level line type (RFC 8866 §9 `media-description`).
fn media_rank(t: u8) -> Option<u8> {
    Some(match t {
        b'i' => 1,
        b'c' => 2,
        b'b' => 3,
        b'k' => 4,
        b'a' => 5,
        b'm' => 6,
        _ => return None,
    })
}

/// Line types that may repeat at their position (session-level `c=` may
/// not, media-level `c=` may).
fn repeatable(t: u8, in_media: bool) -> bool {
    if in_media {
        matches!(t, b'c' | b'b' | b'a')
    } else {
        matches!(t, b'e' | b'p' | b'b' | b't' | b'r' | b'a')
    }
}

/// Partially built description while the mandatory lines come in.
struct Builder {
    origin: Option<Origin>,
    session_name: Option<String>,
    desc: SessionDescription,
}

pub(crate) fn parse(input: &str, limits: &ParseLimits) -> Result<SessionDescription, ParseError> {
    if input.len() > limits.max_input_len {
        return Err(ParseError::new(
            0,
            "",
            ErrorKind::LimitExceeded(Limit::InputLength),
        ));
    }
    let mut b = Builder {
        origin: None,
        session_name: None,
        desc: SessionDescription::new(0, 0),
    };
    b.desc.timings.clear();
    let mut seen_version = false;
    let mut last_type = 0u8;
    let mut rank = 0u8;
    let mut in_media = false;
    let mut attributes = 0usize;
    let mut candidates = 0usize;
    let mut last_line = 0usize;

    for (idx, raw) in input.split('\n').enumerate() {
        let no = idx + 1;
        if no > limits.max_lines {
            return Err(ParseError::new(
                no,
                raw,
                ErrorKind::LimitExceeded(Limit::Lines),
            ));
        }
        // Liberal: LF-only endings and blank lines are accepted.
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        last_line = no;
        let err = |kind| ParseError::new(no, line, kind);
        let bytes = line.as_bytes();
        let (Some(&t), Some(b'=')) = (bytes.first(), bytes.get(1)) else {
            return Err(err(ErrorKind::Syntax));
        };
        if !t.is_ascii_lowercase() {
            return Err(err(ErrorKind::Syntax));
        }
        let tc = char::from(t);
        let value = line.get(2..).unwrap_or_default();

        if !seen_version {
            if t != b'v' {
                return Err(err(ErrorKind::MissingVersion));
            }
            if value.trim() != "0" {
                return Err(err(ErrorKind::UnsupportedVersion));
            }
            seen_version = true;
            last_type = t;
            continue;
        }

        let r = if in_media && t != b'm' {
            media_rank(t)
        } else {
            session_rank(t)
        };
        let Some(r) = r else {
            return Err(err(if session_rank(t).is_some() {
                ErrorKind::Unexpected(tc)
            } else {
                ErrorKind::UnknownType(tc)
            }));
        };
        if !in_media || t == b'm' {
            // Mandatory session lines must all be there before later ones.
            if r > 1 && b.origin.is_none() {
                return Err(err(ErrorKind::MissingLine('o')));
            }
            if r > 2 && b.session_name.is_none() {
                return Err(err(ErrorKind::MissingLine('s')));
            }
            if r > 9 && b.desc.timings.is_empty() {
                return Err(err(ErrorKind::MissingLine('t')));
            }
        }
        let same = r == rank;
        let order_ok = if t == b'm' {
            true
        } else if t == b'r' {
            matches!(last_type, b't' | b'r')
        } else if same {
            repeatable(t, in_media) && (t == last_type || (t == b't' && last_type == b'r'))
        } else {
            r > rank
        };
        if !order_ok || t == b'v' {
            return Err(err(ErrorKind::Unexpected(tc)));
        }
        rank = r;
        last_type = t;

        let malformed = |reason| {
            err(ErrorKind::Malformed {
                line_type: tc,
                reason,
            })
        };
        if t == b'm' {
            if b.desc.media.len() >= limits.max_media {
                return Err(err(ErrorKind::LimitExceeded(Limit::Media)));
            }
            b.desc.media.push(parse_media(value).map_err(malformed)?);
            in_media = true;
            rank = 0;
            continue;
        }
        if t == b'a' {
            attributes += 1;
            if attributes > limits.max_attributes {
                return Err(err(ErrorKind::LimitExceeded(Limit::Attributes)));
            }
            let attr = Attribute::parse(value);
            if attr.name.is_empty() {
                return Err(malformed("empty attribute name"));
            }
            if attr.name == names::CANDIDATE {
                candidates += 1;
                if candidates > limits.max_candidates {
                    return Err(err(ErrorKind::LimitExceeded(Limit::Candidates)));
                }
            }
            attribute::validate(&attr).map_err(err)?;
            match b.desc.media.last_mut().filter(|_| in_media) {
                Some(m) => m.attributes.push(attr),
                None => b.desc.attributes.push(attr),
            }
            continue;
        }
        if in_media {
            let Some(m) = b.desc.media.last_mut() else {
                return Err(err(ErrorKind::Unexpected(tc)));
            };
            match t {
                b'i' => m.information = Some(value.to_owned()),
                b'c' => m
                    .connections
                    .push(parse_connection(value).map_err(malformed)?),
                b'b' => m
                    .bandwidths
                    .push(parse_bandwidth(value).map_err(malformed)?),
                b'k' => m.key = Some(value.to_owned()),
                _ => return Err(err(ErrorKind::Unexpected(tc))),
            }
            continue;
        }
        let d = &mut b.desc;
        match t {
            b'o' => b.origin = Some(parse_origin(value).map_err(malformed)?),
            b's' => b.session_name = Some(value.to_owned()),
            b'i' => d.information = Some(value.to_owned()),
            b'u' => d.uri = Some(value.to_owned()),
            b'e' => d.emails.push(value.to_owned()),
            b'p' => d.phones.push(value.to_owned()),
            b'c' => d.connection = Some(parse_connection(value).map_err(malformed)?),
            b'b' => d
                .bandwidths
                .push(parse_bandwidth(value).map_err(malformed)?),
            b't' => d.timings.push(parse_timing(value).map_err(malformed)?),
            b'r' => {
                let rep = parse_repeat(value).map_err(malformed)?;
                match d.timings.last_mut() {
                    Some(tm) => tm.repeats.push(rep),
                    None => return Err(err(ErrorKind::Unexpected(tc))),
                }
            }
            b'z' => d.time_zones = parse_zones(value).map_err(malformed)?,
            b'k' => d.key = Some(value.to_owned()),
            _ => return Err(err(ErrorKind::Unexpected(tc))),
        }
    }

    let end = |kind| ParseError::new(last_line + 1, "", kind);
    if !seen_version {
        return Err(ParseError::new(1, "", ErrorKind::MissingVersion));
    }
    let origin = b.origin.ok_or_else(|| end(ErrorKind::MissingLine('o')))?;
    let name = b
        .session_name
        .ok_or_else(|| end(ErrorKind::MissingLine('s')))?;
    if b.desc.timings.is_empty() {
        return Err(end(ErrorKind::MissingLine('t')));
    }
    b.desc.origin = origin;
    b.desc.session_name = name;
    Ok(b.desc)
}

type FieldResult<T> = Result<T, &'static str>;

fn parse_origin(v: &str) -> FieldResult<Origin> {
    let mut it = v.split_ascii_whitespace();
    let mut field = |what| it.next().ok_or(what);
    let username = field("missing username")?.to_owned();
    let session_id = parse_digits(field("missing sess-id")?, 20).ok_or("bad sess-id")?;
    let session_version =
        parse_digits(field("missing sess-version")?, 20).ok_or("bad sess-version")?;
    let net_type = token(field("missing nettype")?, "bad nettype")?;
    let addr_type = token(field("missing addrtype")?, "bad addrtype")?;
    let unicast_address = field("missing unicast-address")?.to_owned();
    if it.next().is_some() {
        return Err("trailing fields");
    }
    Ok(Origin {
        username,
        session_id,
        session_version,
        net_type,
        addr_type,
        unicast_address,
    })
}

fn token(s: &str, reason: &'static str) -> FieldResult<String> {
    if is_token(s) {
        Ok(s.to_owned())
    } else {
        Err(reason)
    }
}

fn parse_connection(v: &str) -> FieldResult<Connection> {
    let mut it = v.split_ascii_whitespace();
    let (Some(n), Some(a), Some(addr), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err("expected <nettype> <addrtype> <connection-address>");
    };
    Ok(Connection {
        net_type: token(n, "bad nettype")?,
        addr_type: token(a, "bad addrtype")?,
        address: addr.to_owned(),
    })
}

fn parse_bandwidth(v: &str) -> FieldResult<Bandwidth> {
    let (ty, bw) = v
        .trim()
        .split_once(':')
        .ok_or("expected <bwtype>:<bandwidth>")?;
    Ok(Bandwidth {
        bwtype: token(ty, "bad bwtype")?,
        bandwidth: parse_digits(bw, 20).ok_or("bad bandwidth")?,
    })
}

fn parse_timing(v: &str) -> FieldResult<Timing> {
    let mut it = v.split_ascii_whitespace();
    let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
        return Err("expected <start-time> <stop-time>");
    };
    Ok(Timing {
        start: parse_digits(a, 20).ok_or("bad start-time")?,
        stop: parse_digits(b, 20).ok_or("bad stop-time")?,
        repeats: Vec::new(),
    })
}

fn parse_typed_time(s: &str) -> FieldResult<TypedTime> {
    let (num, unit) = match s.as_bytes().last() {
        Some(b'd') => (s.get(..s.len() - 1), Some(TimeUnit::Days)),
        Some(b'h') => (s.get(..s.len() - 1), Some(TimeUnit::Hours)),
        Some(b'm') => (s.get(..s.len() - 1), Some(TimeUnit::Minutes)),
        Some(b's') => (s.get(..s.len() - 1), Some(TimeUnit::Seconds)),
        _ => (Some(s), None),
    };
    let value = num
        .and_then(|n| parse_digits(n, 20))
        .ok_or("bad typed-time")?;
    Ok(TypedTime { value, unit })
}

fn parse_repeat(v: &str) -> FieldResult<Repeat> {
    let times = v
        .split_ascii_whitespace()
        .map(parse_typed_time)
        .collect::<FieldResult<Vec<_>>>()?;
    let mut it = times.into_iter();
    let (Some(interval), Some(active_duration)) = (it.next(), it.next()) else {
        return Err("expected interval, duration and offsets");
    };
    let offsets: Vec<_> = it.collect();
    if offsets.is_empty() {
        return Err("expected at least one offset");
    }
    Ok(Repeat {
        interval,
        active_duration,
        offsets,
    })
}

fn parse_zones(v: &str) -> FieldResult<Vec<TimeZoneAdjustment>> {
    let fields: Vec<&str> = v.split_ascii_whitespace().collect();
    if fields.is_empty() || fields.len() % 2 != 0 {
        return Err("expected <time> <offset> pairs");
    }
    fields
        .chunks(2)
        .map(|pair| {
            let (Some(time), Some(off)) = (pair.first(), pair.get(1)) else {
                return Err("expected <time> <offset> pairs");
            };
            let (negative, off) = match off.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, *off),
            };
            Ok(TimeZoneAdjustment {
                time: parse_digits(time, 20).ok_or("bad adjustment time")?,
                negative,
                offset: parse_typed_time(off)?,
            })
        })
        .collect()
}

fn parse_media(v: &str) -> FieldResult<MediaDescription> {
    let mut it = v.split_ascii_whitespace();
    let media = token(it.next().ok_or("missing media")?, "bad media")?;
    let port_field = it.next().ok_or("missing port")?;
    let (port, num_ports) = match port_field.split_once('/') {
        Some((p, n)) => (p, Some(parse_digits(n, 5).ok_or("bad number of ports")?)),
        None => (port_field, None),
    };
    let port = parse_digits(port, 5).ok_or("bad port")?;
    let proto = it.next().ok_or("missing proto")?;
    if !proto.split('/').all(is_token) {
        return Err("bad proto");
    }
    let formats: Vec<String> = it.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err("missing format");
    }
    let mut m = MediaDescription::new(media, port, proto, formats);
    m.num_ports = num_ports;
    Ok(m)
}
