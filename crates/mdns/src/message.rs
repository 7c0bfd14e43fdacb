//! DNS messages (RFC 1035 §4.1) as Multicast DNS uses them (RFC 6762 §18): decoding any
//! message without panicking, encoding queries and (for tests and tools) whole messages.
//!
//! Only A and AAAA record data is interpreted; other records keep their raw data. Names are
//! decoded with compression pointers and encoded without them.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::name::Name;

/// The Multicast DNS port (RFC 6762 §3).
pub const MDNS_PORT: u16 = 5353;

/// The IPv4 Multicast DNS group, 224.0.0.251 (RFC 6762 §3).
pub const MDNS_IPV4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);

/// The IPv6 link-local Multicast DNS group, ff02::fb (RFC 6762 §3).
pub const MDNS_IPV6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

/// Size of the fixed header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;

/// Largest query [`encode_query`] writes: header, a 255-octet name, type and class.
pub const MAX_QUERY_LEN: usize = HEADER_LEN + 255 + 4;

/// The class IN (RFC 1035 §3.2.4).
pub const CLASS_IN: u16 = 1;

/// The top bit of a question's class: the unicast-response ("QU") bit (RFC 6762 §5.4, §18.12).
const UNICAST_RESPONSE_BIT: u16 = 0x8000;

/// The top bit of a record's class: the cache-flush bit (RFC 6762 §10.2, §18.13).
const CACHE_FLUSH_BIT: u16 = 0x8000;

/// A resource record type (RFC 1035 §3.2.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RecordType(pub u16);

impl RecordType {
    /// A: an IPv4 address (RFC 1035 §3.4.1).
    pub const A: RecordType = RecordType(1);
    /// AAAA: an IPv6 address (RFC 3596 §2.1).
    pub const AAAA: RecordType = RecordType(28);
    /// ANY (`*`) in a question (RFC 1035 §3.2.3).
    pub const ANY: RecordType = RecordType(255);
}

/// The header's second 16 bits: QR, OPCODE, AA, TC, RD, RA, Z, RCODE (RFC 1035 §4.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Flags(pub u16);

impl Flags {
    /// QR: the message is a response.
    pub const RESPONSE: u16 = 0x8000;
    /// AA: authoritative answer (set in every Multicast DNS response, RFC 6762 §18.4).
    pub const AUTHORITATIVE: u16 = 0x0400;
    /// TC: truncated; in a Multicast DNS query, more known answers follow (RFC 6762 §18.5).
    pub const TRUNCATED: u16 = 0x0200;

    /// Whether QR is set.
    pub const fn is_response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }

    /// The 4-bit OPCODE.
    pub const fn opcode(self) -> u8 {
        ((self.0 >> 11) & 0x0F) as u8
    }

    /// The 4-bit RCODE.
    pub const fn rcode(self) -> u8 {
        (self.0 & 0x0F) as u8
    }
}

/// One entry of the question section (RFC 1035 §4.1.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Question {
    /// QNAME.
    pub name: Name,
    /// QTYPE.
    pub qtype: RecordType,
    /// QCLASS without its top bit (1: IN).
    pub qclass: u16,
    /// The top bit of QCLASS: the querier prefers a unicast response (RFC 6762 §5.4).
    pub unicast_response: bool,
}

/// A record's data: addresses are interpreted, anything else kept as raw octets.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RecordData {
    /// An A record's address.
    A(Ipv4Addr),
    /// An AAAA record's address.
    Aaaa(Ipv6Addr),
    /// Another type's RDATA, as received (names in it may hold compression pointers into the
    /// message they came from).
    Other {
        /// The record's type; never [`RecordType::A`] or [`RecordType::AAAA`].
        rtype: RecordType,
        /// RDATA.
        data: Vec<u8>,
    },
}

/// A resource record (RFC 1035 §4.1.3).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// CLASS without its top bit (1: IN).
    pub class: u16,
    /// The top bit of CLASS: the cache-flush bit (RFC 6762 §10.2).
    pub cache_flush: bool,
    /// TTL in seconds; 0 in a Multicast DNS response is a goodbye (RFC 6762 §10.1).
    pub ttl: u32,
    /// TYPE and RDATA.
    pub data: RecordData,
}

impl Record {
    /// The record's TYPE.
    pub fn rtype(&self) -> RecordType {
        match &self.data {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::AAAA,
            RecordData::Other { rtype, .. } => *rtype,
        }
    }
}

/// A whole DNS message.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Message {
    /// ID; zero in Multicast DNS messages except legacy unicast responses (RFC 6762 §18.1).
    pub id: u16,
    /// QR, OPCODE, AA, TC, RD, RA, Z and RCODE.
    pub flags: Flags,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section.
    pub additionals: Vec<Record>,
}

/// Why bytes are not a well-formed DNS message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// The message ends inside the header, a name, a question or a record (the section counts
    /// promise more than the bytes hold).
    Truncated,
    /// A decoded name is longer than 255 octets (RFC 1035 §3.1).
    NameTooLong,
    /// A label length octet starts with the bits 01 or 10 (RFC 1035 §4.1.4).
    BadLabelType,
    /// A compression pointer does not point strictly before the data it was reached from, or
    /// a name follows too many pointers (RFC 1035 §4.1.4).
    BadPointer,
    /// An A record's data is not 4 octets, or an AAAA record's not 16.
    BadAddressLength,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "message ends early",
            DecodeError::NameTooLong => "name longer than 255 octets",
            DecodeError::BadLabelType => "reserved label type",
            DecodeError::BadPointer => {
                "compression pointer loops, points forward or chains too long"
            }
            DecodeError::BadAddressLength => "A or AAAA record data of the wrong length",
        })
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EncodeError {
    /// The buffer is too small.
    BufferTooSmall,
    /// A section has more than 65535 entries, or RDATA more than 65535 octets.
    TooLong,
    /// [`RecordData::Other`] carries type A or AAAA, which must use their own variants.
    AddressTypeAsOther,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "buffer too small",
            EncodeError::TooLong => "too many records or too much record data",
            EncodeError::AddressTypeAsOther => "A or AAAA data given as raw data",
        })
    }
}

impl std::error::Error for EncodeError {}

/// Reads big-endian fields from a message, every read bounds-checked.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let bytes = self.msg.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn name(&mut self) -> Result<Name, DecodeError> {
        let (name, end) = Name::decode(self.msg, self.pos)?;
        self.pos = end;
        Ok(name)
    }

    fn question(&mut self) -> Result<Question, DecodeError> {
        let name = self.name()?;
        let qtype = RecordType(self.u16()?);
        let class = self.u16()?;
        Ok(Question {
            name,
            qtype,
            qclass: class & !UNICAST_RESPONSE_BIT,
            unicast_response: class & UNICAST_RESPONSE_BIT != 0,
        })
    }

    fn record(&mut self) -> Result<Record, DecodeError> {
        let name = self.name()?;
        let rtype = RecordType(self.u16()?);
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = self.u16()?;
        let rdata = self.take(usize::from(len))?;
        let data = match rtype {
            RecordType::A => RecordData::A(Ipv4Addr::from(
                <[u8; 4]>::try_from(rdata).map_err(|_| DecodeError::BadAddressLength)?,
            )),
            RecordType::AAAA => RecordData::Aaaa(Ipv6Addr::from(
                <[u8; 16]>::try_from(rdata).map_err(|_| DecodeError::BadAddressLength)?,
            )),
            _ => RecordData::Other {
                rtype,
                data: rdata.to_vec(),
            },
        };
        Ok(Record {
            name,
            class: class & !CACHE_FLUSH_BIT,
            cache_flush: class & CACHE_FLUSH_BIT != 0,
            ttl,
            data,
        })
    }

    /// Reads `count` records. The vector grows as records are read (never from the count
    /// alone), so a header promising 65535 records in a short datagram allocates nothing
    /// before [`DecodeError::Truncated`].
    fn records(&mut self, count: u16) -> Result<Vec<Record>, DecodeError> {
        let mut records = Vec::new();
        for _ in 0..count {
            records.push(self.record()?);
        }
        Ok(records)
    }
}

impl Message {
    /// Decodes a whole message. Any input either decodes or yields an error; nothing panics,
    /// and work and memory are linear in the input's length. Octets after the last section
    /// are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader { msg: bytes, pos: 0 };
        let id = r.u16()?;
        let flags = Flags(r.u16()?);
        let qdcount = r.u16()?;
        let ancount = r.u16()?;
        let nscount = r.u16()?;
        let arcount = r.u16()?;
        let mut questions = Vec::new();
        for _ in 0..qdcount {
            questions.push(r.question()?);
        }
        let answers = r.records(ancount)?;
        let authorities = r.records(nscount)?;
        let additionals = r.records(arcount)?;
        Ok(Message {
            id,
            flags,
            questions,
            answers,
            authorities,
            additionals,
        })
    }

    /// Writes the message into `buf` (names uncompressed) and returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let count = |n: usize| u16::try_from(n).map_err(|_| EncodeError::TooLong);
        let mut w = Writer { buf, len: 0 };
        w.u16(self.id)?;
        w.u16(self.flags.0)?;
        w.u16(count(self.questions.len())?)?;
        w.u16(count(self.answers.len())?)?;
        w.u16(count(self.authorities.len())?)?;
        w.u16(count(self.additionals.len())?)?;
        for q in &self.questions {
            w.bytes(q.name.as_wire())?;
            w.u16(q.qtype.0)?;
            let qu = if q.unicast_response {
                UNICAST_RESPONSE_BIT
            } else {
                0
            };
            w.u16((q.qclass & !UNICAST_RESPONSE_BIT) | qu)?;
        }
        for record in self
            .answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
        {
            w.record(record)?;
        }
        Ok(w.len)
    }
}

/// Writes a one-shot Multicast DNS query (RFC 6762 §5.1) for `name` and `qtype` into `buf` and
/// returns its length: ID zero (RFC 6762 §18.1), all flags zero — a standard query (OPCODE 0,
/// §18.3), no TC (no known answers follow, §18.5), RD clear (§18.6), RCODE 0 (§18.11) — one
/// question of class IN with the unicast-response bit clear (§5.4), and no other records
/// (RFC 1035 §4.1). One question per message: some responders (Chromium's) parse only
/// queries with exactly one.
pub fn encode_query(buf: &mut [u8], name: &Name, qtype: RecordType) -> Result<usize, EncodeError> {
    let mut w = Writer { buf, len: 0 };
    // ID, flags, QDCOUNT = 1, ANCOUNT, NSCOUNT, ARCOUNT.
    w.bytes(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    w.bytes(name.as_wire())?;
    w.u16(qtype.0)?;
    w.u16(CLASS_IN)?;
    Ok(w.len)
}

/// Appends big-endian fields to a caller buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.bytes(&v.to_be_bytes())
    }

    fn record(&mut self, r: &Record) -> Result<(), EncodeError> {
        let octets;
        let rdata: &[u8] = match &r.data {
            RecordData::A(a) => {
                octets = a.octets().to_vec();
                &octets
            }
            RecordData::Aaaa(a) => {
                octets = a.octets().to_vec();
                &octets
            }
            RecordData::Other { rtype, data } => {
                if matches!(*rtype, RecordType::A | RecordType::AAAA) {
                    return Err(EncodeError::AddressTypeAsOther);
                }
                data
            }
        };
        let rdlength = u16::try_from(rdata.len()).map_err(|_| EncodeError::TooLong)?;
        self.bytes(r.name.as_wire())?;
        self.u16(r.rtype().0)?;
        let flush = if r.cache_flush { CACHE_FLUSH_BIT } else { 0 };
        self.u16((r.class & !CACHE_FLUSH_BIT) | flush)?;
        self.bytes(&r.ttl.to_be_bytes())?;
        self.u16(rdlength)?;
        self.bytes(rdata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_dotted(s).unwrap()
    }

    #[test]
    fn query_layout_matches_rfc_1035() {
        let mut buf = [0u8; MAX_QUERY_LEN];
        let len = encode_query(&mut buf, &name("Ab-1.local"), RecordType::AAAA).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x00, 0x00, // ID 0 (RFC 6762 §18.1)
            0x00, 0x00, // QR=0 OPCODE=0 AA=0 TC=0 RD=0 RA=0 Z=0 RCODE=0
            0x00, 0x01, // QDCOUNT
            0x00, 0x00, // ANCOUNT
            0x00, 0x00, // NSCOUNT
            0x00, 0x00, // ARCOUNT
            4, b'A', b'b', b'-', b'1', // QNAME: case kept as given
            5, b'l', b'o', b'c', b'a', b'l',
            0,
            0x00, 0x1c, // QTYPE AAAA (28)
            0x00, 0x01, // QCLASS IN, unicast-response bit clear
        ];
        assert_eq!(&buf[..len], expected);

        let q = Message::decode(&buf[..len]).unwrap();
        assert!(!q.flags.is_response());
        assert_eq!(q.questions.len(), 1);
        assert_eq!(q.questions[0].qtype, RecordType::AAAA);
        assert!(!q.questions[0].unicast_response);
    }

    #[test]
    fn query_into_small_buffer_fails_cleanly() {
        let n = name("host.local");
        let mut buf = [0u8; 20];
        assert_eq!(
            encode_query(&mut buf, &n, RecordType::A),
            Err(EncodeError::BufferTooSmall)
        );
    }

    /// A response as a Multicast DNS responder writes it, compressed: the answer's name points
    /// into the (legacy-unicast) question, the additional record's name is a label and a
    /// pointer to `local`, the cache-flush bit set on the additional record.
    #[test]
    fn decodes_compression_pointers() {
        #[rustfmt::skip]
        let msg: &[u8] = &[
            0x00, 0x00, 0x84, 0x00, // ID 0, QR=1 AA=1
            0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
            // Question at offset 12: "abc.local" A IN.
            3, b'a', b'b', b'c', 5, b'l', b'o', b'c', b'a', b'l', 0,
            0x00, 0x01, 0x00, 0x01,
            // Answer: pointer to offset 12, A IN, TTL 120, 10.0.0.7.
            0xC0, 12, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 120, 0x00, 0x04, 10, 0, 0, 7,
            // Additional: "XY" + pointer to "local" (offset 16), AAAA, cache-flush, TTL 1.
            2, b'X', b'Y', 0xC0, 16, 0x00, 0x1c, 0x80, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x10,
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        let m = Message::decode(msg).unwrap();
        assert!(m.flags.is_response());
        assert_eq!(m.flags.opcode(), 0);
        assert_eq!(m.flags.rcode(), 0);
        assert_eq!(m.questions[0].name, name("abc.local"));
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].name, name("ABC.local"));
        assert_eq!(m.answers[0].ttl, 120);
        assert_eq!(m.answers[0].data, RecordData::A(Ipv4Addr::new(10, 0, 0, 7)));
        assert!(!m.answers[0].cache_flush);
        let add = &m.additionals[0];
        assert_eq!(add.name.to_string(), "XY.local");
        assert!(add.cache_flush);
        assert_eq!(add.class, CLASS_IN);
        assert_eq!(add.data, RecordData::Aaaa("fe80::1".parse().unwrap()));
    }

    fn header(qd: u16, an: u16) -> Vec<u8> {
        let mut v = vec![0, 0, 0x84, 0];
        v.extend_from_slice(&qd.to_be_bytes());
        v.extend_from_slice(&an.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        v
    }

    #[test]
    fn rejects_pointer_loops_and_forward_pointers() {
        // A pointer to itself.
        let mut m = header(1, 0);
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadPointer));

        // A label and then a pointer back to that label: "a.a.a...." forever.
        let mut m = header(1, 0);
        m.extend_from_slice(&[1, b'a', 0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadPointer));

        // Two pointers pointing at each other (the second one forward).
        let mut m = header(2, 0);
        m.extend_from_slice(&[0xC0, 18, 0, 1, 0, 1, 0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadPointer));

        // A pointer past the end.
        let mut m = header(1, 0);
        m.extend_from_slice(&[0xFF, 0xFF, 0, 1, 0, 1]);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadPointer));
    }

    #[test]
    fn rejects_reserved_labels_long_names_and_bad_rdata() {
        let mut m = header(1, 0);
        m.extend_from_slice(&[0x40, 0, 0, 1, 0, 1]);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadLabelType));

        // 5 labels of 63 octets: 320 octets.
        let mut m = header(1, 0);
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(Message::decode(&m), Err(DecodeError::NameTooLong));

        // A 255-octet name through a chain of pointers is fine; one more label is not.
        let mut m = header(0, 0);
        let body_start = m.len();
        for _ in 0..3 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.push(61);
        m.extend_from_slice(&[b'y'; 61]);
        m.push(0);
        assert_eq!(m.len() - body_start, 255);
        m[5] = 1; // QDCOUNT 1: the 255-octet name is the question
        m.extend_from_slice(&[0, 1, 0, 1]);
        assert!(Message::decode(&m).is_ok());
        let mut longer = m.clone();
        longer[7] = 1; // ANCOUNT 1: "z" + pointer to the question name: 257 octets
        longer.extend_from_slice(&[1, b'z', 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]);
        assert_eq!(Message::decode(&longer), Err(DecodeError::NameTooLong));

        // An A record with 3 octets of data.
        let mut m = header(0, 1);
        m.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1, 0, 0, 0, 9, 0, 3, 1, 2, 3]);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadAddressLength));
    }

    #[test]
    fn counts_beyond_the_data_are_truncation() {
        let m = header(0xFFFF, 0xFFFF);
        assert_eq!(Message::decode(&m), Err(DecodeError::Truncated));
        assert_eq!(Message::decode(&m[..11]), Err(DecodeError::Truncated));
        assert_eq!(Message::decode(&[]), Err(DecodeError::Truncated));
    }

    #[test]
    fn encode_decode_round_trip() {
        let m = Message {
            id: 7,
            flags: Flags(Flags::RESPONSE | Flags::AUTHORITATIVE),
            questions: vec![Question {
                name: name("q.local"),
                qtype: RecordType::ANY,
                qclass: CLASS_IN,
                unicast_response: true,
            }],
            answers: vec![Record {
                name: name("q.local"),
                class: CLASS_IN,
                cache_flush: true,
                ttl: 120,
                data: RecordData::A(Ipv4Addr::new(192, 0, 2, 1)),
            }],
            authorities: vec![],
            additionals: vec![Record {
                name: name("q.local"),
                class: CLASS_IN,
                cache_flush: false,
                ttl: 0,
                data: RecordData::Other {
                    rtype: RecordType(47),
                    data: vec![0xC0, 12, 0, 1, 0x40],
                },
            }],
        };
        let mut buf = [0u8; 512];
        let len = m.encode(&mut buf).unwrap();
        assert_eq!(Message::decode(&buf[..len]).unwrap(), m);
        assert_eq!(
            m.encode(&mut buf[..len - 1]),
            Err(EncodeError::BufferTooSmall)
        );

        let mut bad = m.clone();
        bad.answers[0].data = RecordData::Other {
            rtype: RecordType::A,
            data: vec![1, 2, 3, 4],
        };
        assert_eq!(bad.encode(&mut buf), Err(EncodeError::AddressTypeAsOther));
    }
}
