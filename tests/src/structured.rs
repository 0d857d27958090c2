//! Target `tsr_structured`: the fuzzer's bytes choose a valid file (metadata of every type,
//! tensors of every encoding, dense or sparse), which the writer writes and the reader must read
//! back exactly; then they choose mutations of header, directory and footer fields (counts,
//! lengths, ranks, dims, ids, offsets) and of data bytes, and the checksums are recomputed so
//! that the mutated file reaches the structural checks. The result goes through
//! [`crate::tsr::check_tsr_bytes`].

use arbitrary::{Result, Unstructured};
use tessera_format::{Encoding, MetaArray, MetaValue, TsrFile, Writer};

use crate::directory::{self, Field};

/// A tensor the fuzzer chose.
#[derive(Debug)]
struct Tensor {
    name: String,
    shape: Vec<u64>,
    encoding: Encoding,
    sparse: bool,
    bytes: Vec<u8>,
}

/// Values a mutated field is set to: the classic overflow and off-by-one values.
const INTERESTING: [u64; 24] = [
    0,
    1,
    2,
    7,
    8,
    9,
    63,
    64,
    65,
    255,
    256,
    65_536,
    65_537,
    1 << 20,
    (1 << 20) + 1,
    1 << 28,
    (1 << 28) + 1,
    u32::MAX as u64,
    1 << 32,
    (1 << 32) + 1,
    i64::MAX as u64,
    u64::MAX - 63,
    u64::MAX - 1,
    u64::MAX,
];

pub fn check_structured(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((mut file, tensors, metadata)) = build(&mut u) else {
        return;
    };
    check_read_back(&file, &tensors, &metadata);
    if mutate(&mut u, &mut file).is_ok() {
        crate::tsr::check_tsr_bytes(&file);
    }
}

type Built = (Vec<u8>, Vec<Tensor>, Vec<(String, MetaValue)>);

/// Writes a valid file from the fuzzer's choices. Every choice is valid, so the writer must
/// accept it.
fn build(u: &mut Unstructured<'_>) -> Result<Built> {
    let alignment = *u.choose(&[64u64, 64, 128, 256, 4096])?;
    let mut w = Writer::in_memory();
    w.set_alignment(alignment).expect("valid alignment");

    let mut metadata: Vec<(String, MetaValue)> = Vec::new();
    for i in 0..u.int_in_range(0..=4)? {
        let (key, value) = meta_entry(u, i)?;
        if metadata.iter().any(|(k, _)| *k == key) {
            continue;
        }
        w.set_metadata(&key, value.clone())
            .unwrap_or_else(|e| panic!("writer refuses valid metadata {key:?}: {e}"));
        metadata.push((key, value));
    }

    let encodings = Encoding::all();
    let mut tensors: Vec<Tensor> = Vec::new();
    for i in 0..u.int_in_range(0..=4)? {
        let encoding = *u.choose(&encodings)?;
        let rank = u.int_in_range(1..=3)?;
        let mut shape: Vec<u64> = (0..rank - 1)
            .map(|_| u.int_in_range(1..=3))
            .collect::<Result<_>>()?;
        shape.push(u.int_in_range(1..=300)?);
        let sparse = encoding.is_blocked() && u.ratio(1, 3)?;
        let bytes = tensor_bytes(u, encoding, &shape, sparse)?;
        let name = if u.ratio(1, 8)? {
            // Non-ASCII names, same byte-compare rules.
            format!("t\u{e9}{i}")
        } else {
            format!("layer.{i}.weight")
        };
        w.add_tensor(&name, &shape, encoding, sparse, &bytes)
            .unwrap_or_else(|e| panic!("writer refuses valid tensor {name} {encoding}: {e}"));
        tensors.push(Tensor {
            name,
            shape,
            encoding,
            sparse,
            bytes,
        });
    }
    let file = w.finish_to_vec().expect("writer finishes a valid file");
    Ok((file, tensors, metadata))
}

/// One metadata entry of a type the fuzzer picks; reserved keys get their required type.
fn meta_entry(u: &mut Unstructured<'_>, i: u32) -> Result<(String, MetaValue)> {
    if u.ratio(1, 4)? {
        let key = *u.choose(&["general.name", "general.architecture", "tessera.recipe"])?;
        return Ok((key.into(), MetaValue::Str(u.arbitrary()?)));
    }
    let key = format!("app.key{i}");
    let value = match u.int_in_range(0..=12u8)? {
        0 => MetaValue::U8(u.arbitrary()?),
        1 => MetaValue::U16(u.arbitrary()?),
        2 => MetaValue::U32(u.arbitrary()?),
        3 => MetaValue::U64(u.arbitrary()?),
        4 => MetaValue::I8(u.arbitrary()?),
        5 => MetaValue::I16(u.arbitrary()?),
        6 => MetaValue::I32(u.arbitrary()?),
        7 => MetaValue::I64(u.arbitrary()?),
        8 => MetaValue::F32(u.arbitrary()?),
        9 => MetaValue::F64(u.arbitrary()?),
        10 => MetaValue::Bool(u.arbitrary()?),
        11 => MetaValue::Str(u.arbitrary()?),
        _ => MetaValue::Array(match u.int_in_range(0..=5u8)? {
            0 => MetaArray::U8(u.arbitrary()?),
            1 => MetaArray::I64(u.arbitrary()?),
            2 => MetaArray::F32(u.arbitrary()?),
            3 => MetaArray::Bool(u.arbitrary()?),
            4 => MetaArray::Str(u.arbitrary()?),
            _ => MetaArray::U16(u.arbitrary()?),
        }),
    };
    Ok((key, value))
}

/// Bytes for a tensor: fuzzer bytes (zeros once they run out); for a sparse tensor a bitmap
/// with no bit past the last block, then the blocks it names.
pub fn tensor_bytes(
    u: &mut Unstructured<'_>,
    encoding: Encoding,
    shape: &[u64],
    sparse: bool,
) -> Result<Vec<u8>> {
    let mut fill = |n: usize| -> Result<Vec<u8>> {
        let mut v = vec![0u8; n];
        let take = n.min(u.len());
        u.fill_buffer(&mut v[..take])?;
        Ok(v)
    };
    if !sparse {
        let n = encoding.tensor_bytes(shape).expect("small shape") as usize;
        return fill(n);
    }
    let k = *shape.last().expect("rank >= 1");
    let per_row = encoding.blocks_per_row(k);
    let rows: u64 = shape[..shape.len() - 1].iter().product();
    let blocks = rows * per_row;
    let mut bitmap = fill(blocks.div_ceil(64) as usize * 8)?;
    let mut stored = 0usize;
    for b in 0..bitmap.len() as u64 * 8 {
        let (byte, bit) = ((b / 8) as usize, 1u8 << (b % 8));
        if b >= blocks {
            bitmap[byte] &= !bit;
        } else if bitmap[byte] & bit != 0 {
            stored += encoding.block_bytes_at(k, b % per_row);
        }
    }
    bitmap.extend(fill(stored)?);
    Ok(bitmap)
}

/// The reader returns exactly what was written.
fn check_read_back(file: &[u8], tensors: &[Tensor], metadata: &[(String, MetaValue)]) {
    let f = TsrFile::parse(file).unwrap_or_else(|e| panic!("writer output refused: {e}"));
    f.verify().expect("writer output verifies");
    let got = f.metadata();
    assert_eq!(got.len(), metadata.len());
    for ((k1, v1), (k2, v2)) in got.iter().zip(metadata) {
        assert_eq!(k1, k2);
        // Debug text compares NaN payload-blind but otherwise exactly.
        assert_eq!(format!("{v1:?}"), format!("{v2:?}"), "metadata {k1}");
    }
    assert_eq!(f.tensors().len(), tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let v = f.tensor_at(i);
        assert_eq!(v.info.name, t.name);
        assert_eq!(v.info.shape, t.shape);
        assert_eq!(v.info.encoding, t.encoding);
        assert_eq!(v.info.sparse, t.sparse);
        assert_eq!(v.bytes, &t.bytes[..], "bytes of {}", t.name);
        assert_eq!(v.info.xxh3, xxhash_rust::xxh3::xxh3_64(&t.bytes));
    }
}

/// Applies 1..=4 mutations, then (usually) recomputes the checksums they broke.
fn mutate(u: &mut Unstructured<'_>, file: &mut Vec<u8>) -> Result<()> {
    for _ in 0..u.int_in_range(1..=4)? {
        let fields = directory::fields(file);
        match u.int_in_range(0..=9u8)? {
            // A field set to a classic hostile value, or nudged.
            0..=4 => {
                let field = u.choose(&fields)?.clone();
                let old = directory::get(file, &field);
                let value = match u.int_in_range(0..=4u8)? {
                    0 | 1 => *u.choose(&INTERESTING)?,
                    2 => old.wrapping_add(u.int_in_range(1..=64)?),
                    3 => old.wrapping_sub(u.int_in_range(1..=64)?),
                    _ => directory::get(file, u.choose(&fields)?),
                };
                directory::set(file, &field, value);
            }
            // A tensor's offset moved to another tensor's (overlap, aliasing).
            5 => {
                let offsets: Vec<&Field> = fields
                    .iter()
                    .filter(|f| f.name.ends_with(".offset") || f.name.ends_with(".length"))
                    .collect();
                if offsets.len() >= 2 {
                    let a = (*u.choose(&offsets)?).clone();
                    let b = directory::get(file, u.choose(&offsets)?);
                    directory::set(file, &a, b);
                }
            }
            // A byte changed anywhere.
            6 => {
                if !file.is_empty() {
                    let at = u.choose_index(file.len())?;
                    file[at] = u.arbitrary()?;
                }
            }
            // Bytes inserted into or removed from the directory, the footer length following.
            7 => {
                if let Some((d, f)) = directory::directory_range(file) {
                    let at = u.int_in_range(d..=f)?;
                    if u.arbitrary()? {
                        let n = u.int_in_range(1..=16)?;
                        let junk: Vec<u8> = (0..n).map(|_| u.arbitrary()).collect::<Result<_>>()?;
                        file.splice(at..at, junk);
                    } else if at < f {
                        let n = u.int_in_range(1..=16usize)?.min(f - at);
                        file.drain(at..at + n);
                    }
                    let new_f = file.len() - 32;
                    file[new_f + 8..new_f + 16]
                        .copy_from_slice(&((new_f - d) as u64).to_le_bytes());
                }
            }
            // The file cut short, or grown.
            8 => {
                if u.arbitrary()? {
                    let n = u.choose_index(file.len() + 1)?;
                    file.truncate(n);
                } else {
                    let n = u.int_in_range(1..=128)?;
                    file.extend(std::iter::repeat_n(0u8, n));
                }
            }
            // A data byte changed and its tensor checksum recomputed, so verify() passes.
            _ => {
                let parsed = TsrFile::parse(file).ok().map(|f| {
                    f.tensors()
                        .iter()
                        .map(|t| (t.offset, t.length))
                        .collect::<Vec<_>>()
                });
                let xxh3: Vec<Field> = fields
                    .iter()
                    .filter(|f| f.name.ends_with(".xxh3"))
                    .cloned()
                    .collect();
                if let Some(spans) = parsed {
                    if !spans.is_empty() && spans.len() == xxh3.len() {
                        let i = u.choose_index(spans.len())?;
                        let (off, len) = (spans[i].0 as usize, spans[i].1 as usize);
                        if len > 0 {
                            let at = off + u.choose_index(len)?;
                            file[at] = u.arbitrary()?;
                            let h = xxhash_rust::xxh3::xxh3_64(&file[off..off + len]);
                            directory::set(file, &xxh3[i], h);
                        }
                    }
                }
            }
        }
    }
    if !u.ratio(1, 16)? {
        directory::fix_checksum(file);
    }
    Ok(())
}
