//! Fixed parts of the file: magic numbers, the header and footer layouts, value type tags, and the
//! caps every reader applies (SPEC.md, "File layout" and "Limits").

/// First 8 bytes of every `.tsr` file. The high byte and the CR LF / SUB / LF pair catch files
/// mangled by text-mode transfers.
pub const MAGIC: [u8; 8] = *b"\x89TSR\r\n\x1a\n";
/// Last 8 bytes of every committed `.tsr` file.
pub const END_MAGIC: [u8; 8] = *b"TSR-END\n";

/// The major version this crate reads and writes. A file with another major is refused.
pub const VERSION_MAJOR: u16 = 1;
/// The minor version this crate writes. Files with any minor of the same major are read.
pub const VERSION_MINOR: u16 = 0;

pub const HEADER_LEN: u64 = 64;
pub const FOOTER_LEN: u64 = 32;

/// Required feature bits this reader understands (none are defined in 1.0).
pub const KNOWN_REQUIRED_FEATURES: u64 = 0;

/// Tensor entry flag: the tensor is stored sparse (bitmap, then present blocks).
pub const TENSOR_FLAG_SPARSE: u32 = 1;

pub const MIN_ALIGNMENT: u64 = 64;
pub const MAX_ALIGNMENT: u64 = 1 << 21;
pub const DEFAULT_ALIGNMENT: u64 = 64;

/// Caps applied before anything sized by a file value is allocated.
pub const MAX_METADATA_ENTRIES: u64 = 1 << 20;
pub const MAX_TENSORS: u64 = 1 << 20;
/// Metadata keys and tensor names, in bytes.
pub const MAX_NAME_LEN: u64 = 1 << 16;
/// String metadata values, in bytes.
pub const MAX_STRING_LEN: u64 = 1 << 28;
/// Elements of one metadata array.
pub const MAX_ARRAY_LEN: u64 = 1 << 28;
pub const MAX_RANK: u64 = 8;

/// The header: the first [`HEADER_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub major: u16,
    pub minor: u16,
    pub required_features: u64,
    pub optional_features: u64,
    pub alignment: u64,
}

impl Header {
    pub fn new(alignment: u64) -> Self {
        Header {
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            required_features: 0,
            optional_features: 0,
            alignment,
        }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.major.to_le_bytes());
        b[10..12].copy_from_slice(&self.minor.to_le_bytes());
        // 12..16 reserved, zero.
        b[16..24].copy_from_slice(&self.required_features.to_le_bytes());
        b[24..32].copy_from_slice(&self.optional_features.to_le_bytes());
        b[32..40].copy_from_slice(&self.alignment.to_le_bytes());
        // 40..64 reserved, zero.
        b
    }

    /// Reads the fields; the caller checks the magic and length first.
    pub fn from_bytes(b: &[u8; HEADER_LEN as usize]) -> Self {
        Header {
            major: u16::from_le_bytes([b[8], b[9]]),
            minor: u16::from_le_bytes([b[10], b[11]]),
            required_features: le_u64(&b[16..24]),
            optional_features: le_u64(&b[24..32]),
            alignment: le_u64(&b[32..40]),
        }
    }
}

/// The footer: the last [`FOOTER_LEN`] bytes, written last (the commit marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    pub directory_offset: u64,
    pub directory_length: u64,
    /// XXH3-64 of header ++ directory ++ the footer's first 16 bytes.
    pub checksum: u64,
}

impl Footer {
    pub fn to_bytes(&self) -> [u8; FOOTER_LEN as usize] {
        let mut b = [0u8; FOOTER_LEN as usize];
        b[0..8].copy_from_slice(&self.directory_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.directory_length.to_le_bytes());
        b[16..24].copy_from_slice(&self.checksum.to_le_bytes());
        b[24..32].copy_from_slice(&END_MAGIC);
        b
    }

    pub fn from_bytes(b: &[u8; FOOTER_LEN as usize]) -> Self {
        Footer {
            directory_offset: le_u64(&b[0..8]),
            directory_length: le_u64(&b[8..16]),
            checksum: le_u64(&b[16..24]),
        }
    }
}

/// The checksum stored in the footer: XXH3-64 over the header, the directory and the footer's
/// first 16 bytes (directory offset and length), fed in that order.
pub fn directory_checksum(header: &[u8], directory: &[u8], directory_offset: u64) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(header);
    h.update(directory);
    h.update(&directory_offset.to_le_bytes());
    h.update(&(directory.len() as u64).to_le_bytes());
    h.digest()
}

pub fn align_up(x: u64, alignment: u64) -> Option<u64> {
    debug_assert!(alignment.is_power_of_two());
    Some(x.checked_add(alignment - 1)? & !(alignment - 1))
}

pub fn alignment_is_valid(alignment: u64) -> bool {
    alignment.is_power_of_two() && (MIN_ALIGNMENT..=MAX_ALIGNMENT).contains(&alignment)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}
