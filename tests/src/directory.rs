//! Where each field of a `.tsr` file sits (SPEC.md sections 3, 5 and 7), so seeds and mutations can
//! overwrite one field and then make the checksums right again. Written from the spec, not from
//! the reader, so that a reader bug is not copied into the tests.

use tessera_format::layout::{directory_checksum, FOOTER_LEN, HEADER_LEN};

/// One little-endian integer field of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// `header.alignment`, `meta[0].key_len`, `tensor[1].dim[0]`, `footer.directory_offset`, ...
    pub name: String,
    /// Absolute byte offset.
    pub at: usize,
    /// 1, 2, 4 or 8 bytes.
    pub width: usize,
}

/// The header and footer fields, then every directory field that can be reached walking the
/// directory the footer names (the walk stops quietly at the first thing it cannot follow).
pub fn fields(file: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    let push = |out: &mut Vec<Field>, name: String, at: usize, width: usize| {
        out.push(Field { name, at, width })
    };
    if file.len() < (HEADER_LEN + FOOTER_LEN) as usize {
        return out;
    }
    for (name, at, width) in [
        ("header.major", 8, 2),
        ("header.minor", 10, 2),
        ("header.required_features", 16, 8),
        ("header.optional_features", 24, 8),
        ("header.alignment", 32, 8),
    ] {
        push(&mut out, name.into(), at, width);
    }
    let f = file.len() - FOOTER_LEN as usize;
    push(&mut out, "footer.directory_offset".into(), f, 8);
    push(&mut out, "footer.directory_length".into(), f + 8, 8);
    push(&mut out, "footer.checksum".into(), f + 16, 8);
    let Some((d, _)) = directory_range(file) else {
        return out;
    };
    let mut w = Walker {
        file: &file[..f],
        pos: d,
        out,
    };
    w.walk();
    w.out
}

/// `(D, D + L)` from the footer, when that range lies between the header and the footer.
pub fn directory_range(file: &[u8]) -> Option<(usize, usize)> {
    let f = file.len().checked_sub(FOOTER_LEN as usize)?;
    if f < HEADER_LEN as usize {
        return None;
    }
    let d = read_u64(file, f)?;
    let l = read_u64(file, f + 8)?;
    let end = d.checked_add(l)?;
    (d >= HEADER_LEN && end == f as u64).then_some((d as usize, f))
}

/// Rewrites the footer checksum so that it matches the header and directory, when the footer's
/// directory range is usable. Returns whether it did.
pub fn fix_checksum(file: &mut [u8]) -> bool {
    let Some((d, f)) = directory_range(file) else {
        return false;
    };
    let sum = directory_checksum(&file[..HEADER_LEN as usize], &file[d..f], d as u64);
    file[f + 16..f + 24].copy_from_slice(&sum.to_le_bytes());
    true
}

/// Overwrites a field with the low `width` bytes of `value`.
pub fn set(file: &mut [u8], field: &Field, value: u64) {
    file[field.at..field.at + field.width].copy_from_slice(&value.to_le_bytes()[..field.width]);
}

/// Reads a field.
pub fn get(file: &[u8], field: &Field) -> u64 {
    let mut b = [0u8; 8];
    b[..field.width].copy_from_slice(&file[field.at..field.at + field.width]);
    u64::from_le_bytes(b)
}

/// The field called `name`. Panics if there is none (for seed builders, which know their file).
pub fn find<'f>(fields: &'f [Field], name: &str) -> &'f Field {
    fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

struct Walker<'a> {
    /// The file up to the footer.
    file: &'a [u8],
    pos: usize,
    out: Vec<Field>,
}

impl Walker<'_> {
    fn int(&mut self, name: String, width: usize) -> Option<u64> {
        let end = self.pos.checked_add(width)?;
        let s = self.file.get(self.pos..end)?;
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(s);
        self.out.push(Field {
            name,
            at: self.pos,
            width,
        });
        self.pos = end;
        Some(u64::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let end = self.pos.checked_add(usize::try_from(n).ok()?)?;
        (end <= self.file.len()).then(|| self.pos = end)
    }

    fn walk(&mut self) -> Option<()> {
        let m = self.int("meta_count".into(), 8)?;
        for i in 0..m {
            let p = format!("meta[{i}]");
            let n = self.int(format!("{p}.key_len"), 8)?;
            self.skip(n)?;
            let tag = self.int(format!("{p}.type"), 1)?;
            self.value(&p, tag as u8)?;
        }
        let t = self.int("tensor_count".into(), 8)?;
        for i in 0..t {
            let p = format!("tensor[{i}]");
            let n = self.int(format!("{p}.name_len"), 8)?;
            self.skip(n)?;
            let rank = self.int(format!("{p}.rank"), 4)?;
            for j in 0..rank.min(64) {
                self.int(format!("{p}.dim[{j}]"), 8)?;
            }
            self.int(format!("{p}.encoding"), 4)?;
            self.int(format!("{p}.flags"), 4)?;
            self.int(format!("{p}.offset"), 8)?;
            self.int(format!("{p}.length"), 8)?;
            self.int(format!("{p}.xxh3"), 8)?;
        }
        Some(())
    }

    /// A value of type `tag` (SPEC.md 5.2).
    fn value(&mut self, p: &str, tag: u8) -> Option<()> {
        match tag {
            0..=10 => self.int(format!("{p}.value"), scalar_width(tag)).map(drop),
            11 => {
                let n = self.int(format!("{p}.str_len"), 8)?;
                self.skip(n)
            }
            12 => {
                let elem = self.int(format!("{p}.elem_type"), 1)? as u8;
                let n = self.int(format!("{p}.count"), 8)?;
                if elem == 11 {
                    for j in 0..n {
                        let len = self.int(format!("{p}.elem[{j}].str_len"), 8)?;
                        self.skip(len)?;
                    }
                    Some(())
                } else if elem <= 10 {
                    self.skip(n.checked_mul(scalar_width(elem) as u64)?)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// Payload bytes of scalar type `tag` (0..=10).
fn scalar_width(tag: u8) -> usize {
    match tag {
        0 | 4 | 10 => 1,
        1 | 5 => 2,
        2 | 6 | 8 => 4,
        _ => 8,
    }
}
