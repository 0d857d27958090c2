//! A bounds-checked little-endian reader over the directory bytes. Every length and count it
//! returns has been checked against a cap and against the bytes that remain, so callers may
//! allocate by it.

use crate::error::{FormatError, Result};

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// File offset of `bytes[0]`, so errors can name absolute offsets.
    base: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], base: u64) -> Self {
        Cursor {
            bytes,
            pos: 0,
            base,
        }
    }

    /// Absolute file offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(FormatError::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            });
        }
        // n <= remaining <= usize::MAX, so the cast is exact.
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64, what)?);
        Ok(a)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn i8(&mut self, what: &'static str) -> Result<i8> {
        Ok(i8::from_le_bytes(self.array(what)?))
    }
    pub fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_le_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    pub fn f32(&mut self, what: &'static str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A `u64` length followed by that many bytes of UTF-8. `max` caps the length before the
    /// bytes are looked at.
    pub fn string(&mut self, what: &'static str, max: u64) -> Result<&'a str> {
        let at = self.offset();
        let len = self.u64(what)?;
        if len > max {
            return Err(FormatError::StringTooLong {
                what,
                offset: at,
                len,
                max,
            });
        }
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| FormatError::InvalidUtf8 { what, offset: at })
    }

    /// A `u64` count of items that each take at least `min_item_bytes` bytes. The count is
    /// checked against `max` and against the bytes that remain, so allocating `count` items is
    /// bounded by the file's size.
    pub fn count(&mut self, what: &'static str, max: u64, min_item_bytes: u64) -> Result<usize> {
        let at = self.offset();
        let count = self.u64(what)?;
        if count > max {
            return Err(FormatError::CountTooLarge {
                what,
                offset: at,
                count,
                max,
            });
        }
        let needed = count.saturating_mul(min_item_bytes);
        if needed > self.remaining() {
            return Err(FormatError::Truncated {
                what,
                offset: self.offset(),
                needed,
                available: self.remaining(),
            });
        }
        usize::try_from(count).map_err(|_| FormatError::CountTooLarge {
            what,
            offset: at,
            count,
            max: usize::MAX as u64,
        })
    }
}
