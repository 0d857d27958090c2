//! Typed metadata values and their byte encoding (SPEC.md, "Metadata values").
//!
//! A value is a one-byte type tag followed by its payload. Scalars are little-endian; a string is
//! a `u64` byte length and UTF-8 bytes; an array is the element tag, a `u64` count and the
//! elements (arrays of arrays are not allowed).

use crate::cursor::Cursor;
use crate::error::{FormatError, Result};
use crate::layout::{MAX_ARRAY_LEN, MAX_STRING_LEN};

/// On-disk type tags.
pub mod tag {
    pub const U8: u8 = 0;
    pub const U16: u8 = 1;
    pub const U32: u8 = 2;
    pub const U64: u8 = 3;
    pub const I8: u8 = 4;
    pub const I16: u8 = 5;
    pub const I32: u8 = 6;
    pub const I64: u8 = 7;
    pub const F32: u8 = 8;
    pub const F64: u8 = 9;
    pub const BOOL: u8 = 10;
    pub const STR: u8 = 11;
    pub const ARRAY: u8 = 12;
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(MetaArray),
}

/// An array of one scalar type or of strings.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaArray {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

impl MetaValue {
    pub fn tag(&self) -> u8 {
        match self {
            MetaValue::U8(_) => tag::U8,
            MetaValue::U16(_) => tag::U16,
            MetaValue::U32(_) => tag::U32,
            MetaValue::U64(_) => tag::U64,
            MetaValue::I8(_) => tag::I8,
            MetaValue::I16(_) => tag::I16,
            MetaValue::I32(_) => tag::I32,
            MetaValue::I64(_) => tag::I64,
            MetaValue::F32(_) => tag::F32,
            MetaValue::F64(_) => tag::F64,
            MetaValue::Bool(_) => tag::BOOL,
            MetaValue::Str(_) => tag::STR,
            MetaValue::Array(_) => tag::ARRAY,
        }
    }

    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Any unsigned or non-negative signed integer, widened.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Appends the tag and payload.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            MetaValue::U8(v) => out.push(*v),
            MetaValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::Bool(v) => out.push(u8::from(*v)),
            MetaValue::Str(s) => encode_str(s, out),
            MetaValue::Array(a) => a.encode(out),
        }
    }

    /// Reads a tag and payload.
    pub(crate) fn decode(c: &mut Cursor<'_>) -> Result<MetaValue> {
        let at = c.offset();
        let t = c.u8("metadata value type")?;
        Ok(match t {
            tag::U8 => MetaValue::U8(c.u8("u8 value")?),
            tag::U16 => MetaValue::U16(c.u16("u16 value")?),
            tag::U32 => MetaValue::U32(c.u32("u32 value")?),
            tag::U64 => MetaValue::U64(c.u64("u64 value")?),
            tag::I8 => MetaValue::I8(c.i8("i8 value")?),
            tag::I16 => MetaValue::I16(c.i16("i16 value")?),
            tag::I32 => MetaValue::I32(c.i32("i32 value")?),
            tag::I64 => MetaValue::I64(c.i64("i64 value")?),
            tag::F32 => MetaValue::F32(c.f32("f32 value")?),
            tag::F64 => MetaValue::F64(c.f64("f64 value")?),
            tag::BOOL => MetaValue::Bool(decode_bool(c)?),
            tag::STR => MetaValue::Str(c.string("string value", MAX_STRING_LEN)?.to_owned()),
            tag::ARRAY => MetaValue::Array(MetaArray::decode(c)?),
            tag => return Err(FormatError::UnknownValueType { tag, offset: at }),
        })
    }

    /// The writer's check that the value fits the reader's caps.
    pub(crate) fn check_limits(&self) -> Result<()> {
        let too_long = |what, len: usize, max| {
            if len as u64 > max {
                Err(FormatError::TooMany {
                    what,
                    count: len as u64,
                    max,
                })
            } else {
                Ok(())
            }
        };
        match self {
            MetaValue::Str(s) => too_long("string value bytes", s.len(), MAX_STRING_LEN),
            MetaValue::Array(a) => {
                too_long("array elements", a.len(), MAX_ARRAY_LEN)?;
                if let MetaArray::Str(v) = a {
                    for s in v {
                        too_long("string value bytes", s.len(), MAX_STRING_LEN)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl MetaArray {
    pub fn len(&self) -> usize {
        match self {
            MetaArray::U8(v) => v.len(),
            MetaArray::U16(v) => v.len(),
            MetaArray::U32(v) => v.len(),
            MetaArray::U64(v) => v.len(),
            MetaArray::I8(v) => v.len(),
            MetaArray::I16(v) => v.len(),
            MetaArray::I32(v) => v.len(),
            MetaArray::I64(v) => v.len(),
            MetaArray::F32(v) => v.len(),
            MetaArray::F64(v) => v.len(),
            MetaArray::Bool(v) => v.len(),
            MetaArray::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn element_tag(&self) -> u8 {
        match self {
            MetaArray::U8(_) => tag::U8,
            MetaArray::U16(_) => tag::U16,
            MetaArray::U32(_) => tag::U32,
            MetaArray::U64(_) => tag::U64,
            MetaArray::I8(_) => tag::I8,
            MetaArray::I16(_) => tag::I16,
            MetaArray::I32(_) => tag::I32,
            MetaArray::I64(_) => tag::I64,
            MetaArray::F32(_) => tag::F32,
            MetaArray::F64(_) => tag::F64,
            MetaArray::Bool(_) => tag::BOOL,
            MetaArray::Str(_) => tag::STR,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.element_tag());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        fn each<T, const N: usize>(v: &[T], out: &mut Vec<u8>, f: impl Fn(&T) -> [u8; N]) {
            for x in v {
                out.extend_from_slice(&f(x));
            }
        }
        match self {
            MetaArray::U8(v) => out.extend_from_slice(v),
            MetaArray::U16(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::U32(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::U64(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::I8(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::I16(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::I32(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::I64(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::F32(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::F64(v) => each(v, out, |x| x.to_le_bytes()),
            MetaArray::Bool(v) => each(v, out, |x| [u8::from(*x)]),
            MetaArray::Str(v) => v.iter().for_each(|s| encode_str(s, out)),
        }
    }

    fn decode(c: &mut Cursor<'_>) -> Result<MetaArray> {
        let at = c.offset();
        let t = c.u8("array element type")?;
        let size: u64 = match t {
            tag::U8 | tag::I8 | tag::BOOL => 1,
            tag::U16 | tag::I16 => 2,
            tag::U32 | tag::I32 | tag::F32 => 4,
            tag::U64 | tag::I64 | tag::F64 => 8,
            tag::STR => 8, // the smallest string is its 8-byte length
            tag::ARRAY => return Err(FormatError::NestedArray { offset: at }),
            tag => return Err(FormatError::UnknownValueType { tag, offset: at }),
        };
        // Checked against MAX_ARRAY_LEN and the bytes left before anything is allocated.
        let n = c.count("array length", MAX_ARRAY_LEN, size)?;
        fn read<T>(
            n: usize,
            c: &mut Cursor<'_>,
            mut f: impl FnMut(&mut Cursor<'_>) -> Result<T>,
        ) -> Result<Vec<T>> {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(f(c)?);
            }
            Ok(v)
        }
        Ok(match t {
            tag::U8 => MetaArray::U8(c.take(n as u64, "u8 array")?.to_vec()),
            tag::U16 => MetaArray::U16(read(n, c, |c| c.u16("u16 value"))?),
            tag::U32 => MetaArray::U32(read(n, c, |c| c.u32("u32 value"))?),
            tag::U64 => MetaArray::U64(read(n, c, |c| c.u64("u64 value"))?),
            tag::I8 => MetaArray::I8(read(n, c, |c| c.i8("i8 value"))?),
            tag::I16 => MetaArray::I16(read(n, c, |c| c.i16("i16 value"))?),
            tag::I32 => MetaArray::I32(read(n, c, |c| c.i32("i32 value"))?),
            tag::I64 => MetaArray::I64(read(n, c, |c| c.i64("i64 value"))?),
            tag::F32 => MetaArray::F32(read(n, c, |c| c.f32("f32 value"))?),
            tag::F64 => MetaArray::F64(read(n, c, |c| c.f64("f64 value"))?),
            tag::BOOL => MetaArray::Bool(read(n, c, decode_bool)?),
            _ => MetaArray::Str(read(n, c, |c| {
                Ok(c.string("string value", MAX_STRING_LEN)?.to_owned())
            })?),
        })
    }
}

/// The type a reserved key must have (SPEC.md, "Reserved metadata keys"), as the expected tag
/// and its name; `None` for keys with no fixed type.
pub fn reserved_key_type(key: &str) -> Option<(u8, &'static str)> {
    const STRING: Option<(u8, &str)> = Some((tag::STR, "string"));
    match key {
        "general.name" | "general.architecture" | "general.license" => STRING,
        "tessera.converter" | "tessera.recipe" | "tessera.source.sha256" => STRING,
        _ if key.starts_with("tessera.source.sha256.") || key.starts_with("source.metadata.") => {
            STRING
        }
        _ if key.starts_with("tessera.rel_rmse.") => Some((tag::F64, "f64")),
        _ => None,
    }
}

/// Fails if `key` is reserved for another type than `value`'s. `offset` is for the error.
pub(crate) fn check_reserved_key(key: &str, value: &MetaValue, offset: u64) -> Result<()> {
    match reserved_key_type(key) {
        Some((t, expected)) if value.tag() != t => Err(FormatError::ReservedKeyType {
            key: key.to_owned(),
            offset,
            expected,
        }),
        _ => Ok(()),
    }
}

fn decode_bool(c: &mut Cursor<'_>) -> Result<bool> {
    let offset = c.offset();
    match c.u8("bool value")? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(FormatError::InvalidBool { value, offset }),
    }
}

pub(crate) fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}
