//! A small, bounded AMF0 codec (Adobe "Action Message Format -- AMF 0"
//! specification, §2): enough for RTMP commands and `onMetaData`.
//!
//! The decoder never preallocates from counts in the input, limits nesting,
//! and never panics: every read is bounds-checked.

use crate::error::AmfError;

/// Deepest object/array nesting the decoder accepts.
pub const MAX_DEPTH: usize = 16;

/// Most values one [`decode_all`] call decodes, counting nested elements and
/// property values. A decoded value takes up to ~56 bytes of memory against
/// a single byte of input (a `null` marker), so this bounds the memory of a
/// decode (~250 KiB) whatever the input length.
pub const MAX_VALUES: usize = 4096;

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// Number marker (0x00): an IEEE-754 double.
    Number(f64),
    /// Boolean marker (0x01).
    Boolean(bool),
    /// String (0x02), long string (0x0c) or XML document (0x0f).
    String(String),
    /// Anonymous object (0x03) or typed object (0x10, class name dropped).
    Object(Vec<(String, Amf0Value)>),
    /// Null marker (0x05).
    Null,
    /// Undefined (0x06) and unsupported (0x0d) markers.
    Undefined,
    /// ECMA array (0x08): an associative array.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// Strict array (0x0a).
    StrictArray(Vec<Amf0Value>),
    /// Date (0x0b): milliseconds since the epoch (time zone dropped).
    Date(f64),
}

impl Amf0Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The properties of an object or ECMA array.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Self::Object(p) | Self::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// The value of property `name` of an object or ECMA array.
    pub fn get(&self, name: &str) -> Option<&Amf0Value> {
        self.properties()?.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Decodes every value in `data` (at most [`MAX_VALUES`] in all, nested
/// ones included, else [`AmfError::TooMany`]).
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    let mut r = Reader {
        data,
        pos: 0,
        values: 0,
    };
    let mut values = Vec::new();
    while r.pos < data.len() {
        values.push(r.value(0)?);
    }
    Ok(values)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Values decoded so far.
    values: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], AmfError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(AmfError::Truncated { offset: self.pos })?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or(AmfError::Truncated { offset: self.pos })?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, AmfError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, AmfError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, AmfError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn short_string(&mut self) -> Result<String, AmfError> {
        let len = usize::from(self.u16()?);
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn long_string(&mut self) -> Result<String, AmfError> {
        let len = self.u32()? as usize;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// Properties up to the empty-name + object-end marker (0x00 0x00 0x09).
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, AmfError> {
        let mut props = Vec::new();
        loop {
            let name = self.short_string()?;
            if name.is_empty() && self.data.get(self.pos) == Some(&0x09) {
                self.pos += 1;
                return Ok(props);
            }
            let value = self.value(depth + 1)?;
            props.push((name, value));
        }
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, AmfError> {
        if depth > MAX_DEPTH {
            return Err(AmfError::TooDeep { max: MAX_DEPTH });
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(AmfError::TooMany { max: MAX_VALUES });
        }
        let offset = self.pos;
        let marker = self.u8()?;
        Ok(match marker {
            0x00 => Amf0Value::Number(self.f64()?),
            0x01 => Amf0Value::Boolean(self.u8()? != 0),
            0x02 => Amf0Value::String(self.short_string()?),
            0x03 => Amf0Value::Object(self.properties(depth)?),
            0x05 => Amf0Value::Null,
            0x06 | 0x0d => Amf0Value::Undefined,
            0x08 => {
                // The count is advisory; the end marker terminates.
                let _count = self.u32()?;
                Amf0Value::EcmaArray(self.properties(depth)?)
            }
            0x0a => {
                let count = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Amf0Value::StrictArray(items)
            }
            0x0b => {
                let ms = self.f64()?;
                let _tz = self.u16()?;
                Amf0Value::Date(ms)
            }
            0x0c | 0x0f => Amf0Value::String(self.long_string()?),
            0x10 => {
                let _class = self.short_string()?;
                Amf0Value::Object(self.properties(depth)?)
            }
            marker => return Err(AmfError::UnsupportedMarker { marker, offset }),
        })
    }
}

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Amf0Value, out: &mut Vec<u8>) {
    match value {
        Amf0Value::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf0Value::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
        Amf0Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.push(0x02);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Err(_) => {
                out.push(0x0c);
                // Strings over 4 GiB cannot be built by this crate's callers.
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&s.as_bytes()[..len as usize]);
            }
        },
        Amf0Value::Object(props) => {
            out.push(0x03);
            encode_properties(props, out);
        }
        Amf0Value::Null => out.push(0x05),
        Amf0Value::Undefined => out.push(0x06),
        Amf0Value::EcmaArray(props) => {
            out.push(0x08);
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            encode_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            out.push(0x0a);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Amf0Value::Date(ms) => {
            out.push(0x0b);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

fn encode_properties(props: &[(String, Amf0Value)], out: &mut Vec<u8>) {
    for (name, value) in props {
        // Property names longer than 64 KiB are truncated (never produced here).
        let name = &name.as_bytes()[..name.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
        encode(value, out);
    }
    out.extend_from_slice(&[0x00, 0x00, 0x09]);
}

/// Encodes a sequence of values.
pub fn encode_all(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Amf0Value> {
        let leaf = prop_oneof![
            any::<f64>()
                .prop_filter("NaN != NaN", |f| !f.is_nan())
                .prop_map(Amf0Value::Number),
            any::<bool>().prop_map(Amf0Value::Boolean),
            "[a-zA-Z0-9 ]{0,20}".prop_map(Amf0Value::String),
            Just(Amf0Value::Null),
            Just(Amf0Value::Undefined),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6).prop_map(Amf0Value::Object),
                proptest::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6).prop_map(Amf0Value::EcmaArray),
                proptest::collection::vec(inner, 0..6).prop_map(Amf0Value::StrictArray),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(arb_value(), 0..5)) {
            let bytes = encode_all(&values);
            prop_assert_eq!(decode_all(&bytes).expect("decodes"), values);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_all(&data);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let data = [0x0a, 0, 0, 0, 1].repeat(100);
        assert_eq!(decode_all(&data), Err(AmfError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn value_count_is_capped() {
        // 64 Ki nulls, flat and inside a strict array, and object properties.
        let nulls = vec![0x05; 1 << 16];
        assert_eq!(decode_all(&nulls), Err(AmfError::TooMany { max: MAX_VALUES }));
        let mut array = vec![0x0a, 0, 1, 0, 0];
        array.extend(&nulls);
        assert_eq!(decode_all(&array), Err(AmfError::TooMany { max: MAX_VALUES }));
        let mut object = vec![0x03];
        for _ in 0..MAX_VALUES {
            object.extend([0, 1, b'a', 0x05]);
        }
        object.extend([0, 0, 9]);
        assert_eq!(decode_all(&object), Err(AmfError::TooMany { max: MAX_VALUES }));
        assert_eq!(decode_all(&nulls[..MAX_VALUES]).map(|v| v.len()), Ok(MAX_VALUES));
    }
}
