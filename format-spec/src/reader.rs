//! The validating reader: parses a whole `.tsr` file from a byte slice, applying every rule of
//! SPEC.md "Validation" in order, without hashing tensor data (that is [`TsrFile::verify`]).

use std::path::Path;
use std::sync::Arc;

#[cfg(not(miri))]
use rayon::prelude::*;

use crate::cursor::Cursor;
use crate::error::{FormatError, Result};
use crate::layout::*;
use crate::meta::{check_reserved_key, MetaValue};
use crate::tensor::{geometry, sparse_len, TensorInfo, TensorView};
use crate::Encoding;

/// Smallest tensor entry the parser can walk through (empty name, rank 0), so that counts are
/// bounded by the bytes left while malformed entries still get their own specific error.
const MIN_TENSOR_ENTRY: u64 = 8 + 4 + 4 + 4 + 8 + 8 + 8;
/// Smallest metadata entry: an empty key, a tag and a 1-byte value.
const MIN_METADATA_ENTRY: u64 = 8 + 1 + 1;

/// Everything parsed from a file except the bytes themselves.
#[derive(Debug)]
struct Index {
    header: Header,
    metadata: Vec<(String, MetaValue)>,
    /// Indices into `metadata`, sorted by key (binary search; no second copy of the keys).
    metadata_by_key: Vec<u32>,
    tensors: Vec<TensorInfo>,
    /// Indices into `tensors`, sorted by name.
    tensors_by_name: Vec<u32>,
}

/// Knobs for [`TsrFile::parse_with`].
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Check the footer's checksum over header and directory (on by default). Fuzzers turn it
    /// off so that mutated directories reach the structural checks.
    pub check_directory_checksum: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            check_directory_checksum: true,
        }
    }
}

/// A parsed, validated view over the bytes of a `.tsr` file. Tensor bytes are borrowed, never
/// copied.
#[derive(Clone)]
pub struct TsrFile<'a> {
    bytes: &'a [u8],
    index: Arc<Index>,
}

// Not derived: that would print every byte of the file.
impl std::fmt::Debug for TsrFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsrFile")
            .field("len", &self.bytes.len())
            .field("version", &self.version())
            .field("alignment", &self.alignment())
            .field("metadata", &self.index.metadata.len())
            .field("tensors", &self.index.tensors.len())
            .finish()
    }
}

impl<'a> TsrFile<'a> {
    /// Parses and validates everything but the tensor checksums.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_with(bytes, ParseOptions::default())
    }

    pub fn parse_with(bytes: &'a [u8], options: ParseOptions) -> Result<Self> {
        let index = parse_index(bytes, options)?;
        Ok(TsrFile {
            bytes,
            index: Arc::new(index),
        })
    }

    /// `(major, minor)` as stored in the header.
    pub fn version(&self) -> (u16, u16) {
        (self.index.header.major, self.index.header.minor)
    }

    pub fn alignment(&self) -> u64 {
        self.index.header.alignment
    }

    /// The optional feature bits (unknown ones are ignored by this reader).
    pub fn optional_features(&self) -> u64 {
        self.index.header.optional_features
    }

    /// Metadata in file order; keys are unique.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.index.metadata
    }

    pub fn get_metadata(&self, key: &str) -> Option<&MetaValue> {
        let i = find(&self.index.metadata_by_key, key, |i| {
            &self.index.metadata[i].0
        })?;
        Some(&self.index.metadata[i].1)
    }

    /// Tensor entries in directory order; names are unique.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.index.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let i = find(&self.index.tensors_by_name, name, |i| {
            &self.index.tensors[i].name
        })?;
        Some(self.tensor_at(i))
    }

    /// The tensor at `index` in directory order. Panics if `index >= tensors().len()`, like
    /// slice indexing.
    pub fn tensor_at(&self, index: usize) -> TensorView<'_> {
        let info = &self.index.tensors[index];
        // Parsing checked offset + length against the data section.
        let start = info.offset as usize;
        TensorView {
            info,
            bytes: &self.bytes[start..start + info.length as usize],
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Hashes every tensor (in parallel) and compares with the directory. Reports the failing
    /// tensor with the lowest directory index.
    pub fn verify(&self) -> Result<()> {
        let check = |i: usize| {
            let view = self.tensor_at(i);
            let actual = xxhash_rust::xxh3::xxh3_64(view.bytes);
            (actual != view.info.xxh3).then_some((i, actual))
        };
        let indices = 0..self.index.tensors.len();
        // Under Miri, hash one tensor after another: rayon's crossbeam-epoch breaks Miri's
        // aliasing models (crossbeam-rs/crossbeam#545, #1181), which would hide our own code.
        #[cfg(not(miri))]
        let failure = indices
            .into_par_iter()
            .filter_map(check)
            .min_by_key(|&(i, _)| i);
        #[cfg(miri)]
        let failure = indices.filter_map(check).min_by_key(|&(i, _)| i);
        match failure {
            None => Ok(()),
            Some((i, actual)) => {
                let info = &self.index.tensors[i];
                Err(FormatError::TensorChecksum {
                    tensor: info.name.clone(),
                    offset: info.offset,
                    expected: info.xxh3,
                    actual,
                })
            }
        }
    }
}

/// A memory-mapped `.tsr` file, parsed once at open.
pub struct MappedTsr {
    map: memmap2::Mmap,
    index: Arc<Index>,
}

impl MappedTsr {
    /// Maps and parses the file (lazy: tensor data is not hashed; see [`TsrFile::verify`]).
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| FormatError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the mapping is read-only. Tessera writes files under a temporary name and
        // renames them into place, so a committed file is never modified in place by it; another
        // process truncating the file under us is outside what any mmap reader can defend
        // against, as memmap2 documents.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let index = parse_index(&map, ParseOptions::default())?;
        Ok(MappedTsr {
            map,
            index: Arc::new(index),
        })
    }

    /// A view of the parsed file, borrowing the mapping.
    pub fn file(&self) -> TsrFile<'_> {
        TsrFile {
            bytes: &self.map,
            index: Arc::clone(&self.index),
        }
    }
}

fn parse_index(bytes: &[u8], options: ParseOptions) -> Result<Index> {
    let file_len = bytes.len() as u64;
    // Rule 1: room for a header and a footer.
    if file_len < HEADER_LEN + FOOTER_LEN {
        return Err(FormatError::TooShort {
            len: file_len,
            min: HEADER_LEN + FOOTER_LEN,
        });
    }
    let header_bytes: &[u8; HEADER_LEN as usize] = bytes[..HEADER_LEN as usize]
        .try_into()
        .expect("length checked");
    // Rule 2: magic.
    let mut found = [0u8; 8];
    found.copy_from_slice(&header_bytes[..8]);
    if found != MAGIC {
        return Err(FormatError::BadMagic { found });
    }
    // Rule 3: major version.
    let header = Header::from_bytes(header_bytes);
    if header.major != VERSION_MAJOR {
        return Err(FormatError::UnsupportedVersion {
            major: header.major,
            minor: header.minor,
            supported: VERSION_MAJOR,
        });
    }
    // Rule 4: footer present.
    let footer_start = (file_len - FOOTER_LEN) as usize;
    let footer_bytes: &[u8; FOOTER_LEN as usize] =
        bytes[footer_start..].try_into().expect("length checked");
    if footer_bytes[24..] != END_MAGIC {
        return Err(FormatError::MissingFooter);
    }
    // Rule 5: the directory lies between the header and the footer, ending at the footer.
    let footer = Footer::from_bytes(footer_bytes);
    let dir_end = footer.directory_offset.checked_add(footer.directory_length);
    if footer.directory_offset < HEADER_LEN || dir_end != Some(footer_start as u64) {
        return Err(FormatError::BadFooter {
            directory_offset: footer.directory_offset,
            directory_length: footer.directory_length,
            file_len,
        });
    }
    let directory = &bytes[footer.directory_offset as usize..footer_start];
    // Rule 6: checksum over header and directory.
    if options.check_directory_checksum {
        let actual = directory_checksum(header_bytes, directory, footer.directory_offset);
        if actual != footer.checksum {
            return Err(FormatError::ChecksumMismatch {
                expected: footer.checksum,
                actual,
            });
        }
    }
    // Rule 7: required features.
    let unknown = header.required_features & !KNOWN_REQUIRED_FEATURES;
    if unknown != 0 {
        return Err(FormatError::UnknownRequiredFeatures { bits: unknown });
    }
    // Rule 8: alignment.
    if !alignment_is_valid(header.alignment) {
        return Err(FormatError::InvalidAlignment {
            alignment: header.alignment,
            max: MAX_ALIGNMENT,
        });
    }

    let mut c = Cursor::new(directory, footer.directory_offset);
    // Rule 9: metadata.
    let (metadata, metadata_by_key) = parse_metadata(&mut c)?;
    // Rule 10: tensor entries, each checked on its own.
    let data = DataSection {
        bytes,
        start: HEADER_LEN,
        end: footer.directory_offset,
        alignment: header.alignment,
    };
    let (tensors, tensors_by_name) = parse_tensors(&mut c, &data)?;
    // Rule 11: nothing after the last entry.
    if c.remaining() != 0 {
        return Err(FormatError::TrailingBytes {
            offset: c.offset(),
            extra: c.remaining(),
        });
    }
    // Rule 12: the data section is packed, tensors do not overlap, padding is zero.
    check_layout(&tensors, &data)?;

    Ok(Index {
        header,
        metadata,
        metadata_by_key,
        tensors,
        tensors_by_name,
    })
}

type Metadata = (Vec<(String, MetaValue)>, Vec<u32>);

fn parse_metadata(c: &mut Cursor<'_>) -> Result<Metadata> {
    let n = c.count("metadata count", MAX_METADATA_ENTRIES, MIN_METADATA_ENTRY)?;
    let mut entries = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    for _ in 0..n {
        offsets.push(c.offset());
        let key = name(c, "metadata key")?.to_owned();
        let value = MetaValue::decode(c)?;
        check_reserved_key(&key, &value, *offsets.last().expect("pushed above"))?;
        entries.push((key, value));
    }
    let by_key = sorted_by_name(n, |i| &entries[i].0).map_err(|dup| FormatError::DuplicateKey {
        key: entries[dup].0.clone(),
        offset: offsets[dup],
    })?;
    Ok((entries, by_key))
}

/// A key or tensor name: non-empty UTF-8 of at most MAX_NAME_LEN bytes.
fn name<'a>(c: &mut Cursor<'a>, what: &'static str) -> Result<&'a str> {
    let at = c.offset();
    let s = c.string(what, MAX_NAME_LEN)?;
    if s.is_empty() {
        return Err(FormatError::EmptyName { what, offset: at });
    }
    Ok(s)
}

struct DataSection<'a> {
    bytes: &'a [u8],
    /// First byte after the header.
    start: u64,
    /// First byte of the directory.
    end: u64,
    alignment: u64,
}

type Tensors = (Vec<TensorInfo>, Vec<u32>);

fn parse_tensors(c: &mut Cursor<'_>, data: &DataSection<'_>) -> Result<Tensors> {
    let n = c.count("tensor count", MAX_TENSORS, MIN_TENSOR_ENTRY)?;
    let mut tensors = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    for _ in 0..n {
        let at = c.offset();
        offsets.push(at);
        tensors.push(parse_tensor(c, at, data)?);
    }
    let by_name =
        sorted_by_name(n, |i| &tensors[i].name).map_err(|dup| FormatError::DuplicateTensor {
            tensor: tensors[dup].name.clone(),
            offset: offsets[dup],
        })?;
    Ok((tensors, by_name))
}

/// Indices `0..n` sorted by name. On duplicates, fails with the index of the first entry (in
/// file order) whose name already appeared earlier.
fn sorted_by_name<'s>(n: usize, name: impl Fn(usize) -> &'s str) -> Result<Vec<u32>, usize> {
    // n <= MAX_TENSORS, MAX_METADATA_ENTRIES < 2^32.
    let mut order: Vec<u32> = (0..n as u32).collect();
    // Stable: among equal names, file order is kept, so the later of a pair is a duplicate.
    order.sort_by(|&a, &b| name(a as usize).cmp(name(b as usize)));
    let duplicate = order
        .windows(2)
        .filter(|w| name(w[0] as usize) == name(w[1] as usize))
        .map(|w| w[1] as usize)
        .min();
    match duplicate {
        Some(i) => Err(i),
        None => Ok(order),
    }
}

/// Binary search of a [`sorted_by_name`] index.
fn find<'s>(sorted: &[u32], wanted: &str, name: impl Fn(usize) -> &'s str) -> Option<usize> {
    sorted
        .binary_search_by(|&i| name(i as usize).cmp(wanted))
        .ok()
        .map(|k| sorted[k] as usize)
}

fn parse_tensor(c: &mut Cursor<'_>, at: u64, data: &DataSection<'_>) -> Result<TensorInfo> {
    let tensor = name(c, "tensor name")?.to_owned();
    let rank = c.u32("tensor rank")?;
    if rank == 0 || u64::from(rank) > MAX_RANK {
        return Err(FormatError::BadRank {
            tensor,
            offset: at,
            rank: rank.into(),
            max: MAX_RANK,
        });
    }
    let mut shape = Vec::with_capacity(rank as usize); // rank <= 8
    for _ in 0..rank {
        shape.push(c.u64("tensor dimension")?);
    }
    let id = c.u32("encoding id")?;
    let flags = c.u32("tensor flags")?;
    let offset = c.u64("tensor offset")?;
    let length = c.u64("tensor length")?;
    let xxh3 = c.u64("tensor checksum")?;

    let encoding = Encoding::from_id(id).ok_or_else(|| FormatError::UnknownEncoding {
        tensor: tensor.clone(),
        offset: at,
        id,
    })?;
    if flags & !TENSOR_FLAG_SPARSE != 0 {
        return Err(FormatError::UnknownTensorFlags {
            tensor,
            offset: at,
            flags,
        });
    }
    let sparse = flags & TENSOR_FLAG_SPARSE != 0;
    if sparse && !encoding.is_blocked() {
        return Err(FormatError::SparseRaw {
            tensor,
            offset: at,
            encoding,
        });
    }
    let g = geometry(&tensor, at, &shape, encoding)?;

    // Where the bytes are.
    if offset % data.alignment != 0 {
        return Err(FormatError::Misaligned {
            tensor,
            offset,
            alignment: data.alignment,
        });
    }
    let Some(end) = offset.checked_add(length) else {
        return Err(FormatError::OffsetOverflow {
            tensor,
            offset,
            length,
        });
    };
    if offset < data.start || end > data.end {
        return Err(FormatError::OutOfBounds {
            tensor,
            offset,
            length,
            data_start: data.start,
            data_end: data.end,
        });
    }

    // How many there must be.
    let expected = if sparse {
        if length < g.bitmap_len {
            return Err(FormatError::LengthMismatch {
                tensor,
                offset,
                expected: g.bitmap_len,
                actual: length,
            });
        }
        // In bounds: offset + bitmap_len <= end <= file length.
        let bitmap = &data.bytes[offset as usize..(offset + g.bitmap_len) as usize];
        sparse_len(&shape, encoding, &g, bitmap).map_err(|problem| {
            FormatError::BadSparseBitmap {
                tensor: tensor.clone(),
                offset,
                problem,
            }
        })?
    } else {
        g.dense_len
    };
    if length != expected {
        return Err(FormatError::LengthMismatch {
            tensor,
            offset,
            expected,
            actual: length,
        });
    }
    Ok(TensorInfo {
        name: tensor,
        shape,
        encoding,
        sparse,
        offset,
        length,
        xxh3,
    })
}

/// Sorted by offset, each tensor starts at the first aligned offset after the previous one (the
/// first: after the header), the directory starts right after the last, and every byte in
/// between is zero.
fn check_layout(tensors: &[TensorInfo], data: &DataSection<'_>) -> Result<()> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_unstable_by_key(|&i| tensors[i].offset);
    let mut prev_end = data.start;
    let mut prev: Option<usize> = None;
    for &i in &order {
        let t = &tensors[i];
        if t.offset < prev_end {
            // `prev` is Some: the first tensor cannot start before the header ends.
            let other = prev.map(|p| tensors[p].name.clone()).unwrap_or_default();
            return Err(FormatError::Overlap {
                tensor: t.name.clone(),
                other,
                offset: t.offset,
            });
        }
        // prev_end <= t.offset, which is aligned, so this cannot overflow.
        let expected = align_up(prev_end, data.alignment).unwrap_or(u64::MAX);
        if t.offset != expected {
            return Err(FormatError::UnexpectedGap {
                tensor: t.name.clone(),
                offset: t.offset,
                expected,
            });
        }
        check_zero(data.bytes, prev_end, t.offset)?;
        prev_end = t.offset + t.length;
        prev = Some(i);
    }
    if data.end != prev_end {
        return Err(FormatError::DirectoryMisplaced {
            offset: data.end,
            expected: prev_end,
        });
    }
    Ok(())
}

fn check_zero(bytes: &[u8], start: u64, end: u64) -> Result<()> {
    let gap = &bytes[start as usize..end as usize];
    match gap.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(p) => Err(FormatError::NonZeroPadding {
            offset: start + p as u64,
            value: gap[p],
        }),
    }
}
