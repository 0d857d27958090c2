//! Write a file with every metadata type and f32/f16/bf16/q4/sparse tensors, read it back, and
//! compare bytes, checksums and metadata.

mod common;

use common::*;
use tessera_format::{Encoding, FormatError, MappedTsr, MetaValue, RawType, TsrFile, Writer};

fn check_contents(f: &TsrFile<'_>) {
    assert_eq!(f.version(), (1, 0));
    let meta = every_metadata_value();
    assert_eq!(f.metadata().len(), meta.len());
    for ((k, v), (k2, v2)) in f.metadata().iter().zip(&meta) {
        assert_eq!(k, k2);
        assert_eq!(v, v2, "{k}");
        assert_eq!(f.get_metadata(k), Some(v2));
    }
    assert_eq!(f.get_metadata("absent"), None);
    let samples = samples();
    assert_eq!(f.tensors().len(), samples.len());
    for (i, s) in samples.iter().enumerate() {
        let view = f.tensor(s.name).expect(s.name);
        assert_eq!(view.info, &f.tensors()[i]);
        assert_eq!(view.bytes, &s.bytes[..], "{}", s.name);
        assert_eq!(view.info.shape, s.shape);
        assert_eq!(view.info.encoding, s.encoding);
        assert_eq!(view.info.sparse, s.sparse);
        assert_eq!(view.info.xxh3, xxhash_rust::xxh3::xxh3_64(&s.bytes));
        assert_eq!(view.info.offset % f.alignment(), 0);
        assert_eq!(f.tensor_at(i).bytes, view.bytes);
    }
    f.verify().unwrap();
}

#[test]
fn in_memory_round_trip() {
    let bytes = sample_file();
    let f = TsrFile::parse(&bytes).unwrap();
    check_contents(&f);
    // Deterministic: the same calls give the same bytes.
    assert_eq!(sample_file(), bytes);
}

#[test]
fn typed_views() {
    let bytes = sample_file();
    let f = TsrFile::parse(&bytes).unwrap();
    let e = f.tensor("embed.f32").unwrap();
    if let Ok(v) = e.as_f32() {
        assert_eq!(v, &[-1.0, -0.75, -0.5, -0.25, 0.0, 0.25]);
    } else {
        // A Vec<u8> need not be 4-aligned; the error must then say so.
        assert!(matches!(e.as_f32(), Err(FormatError::UnalignedView { .. })));
    }
    assert!(matches!(
        e.as_f16(),
        Err(FormatError::WrongViewType {
            requested: "f16",
            ..
        })
    ));
    let h = f.tensor("norm.f16").unwrap();
    if let Ok(v) = h.as_f16() {
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].to_bits(), u16::from_le_bytes([h.bytes[0], h.bytes[1]]));
    }
    let b = f.tensor("proj.bf16").unwrap();
    if let Ok(v) = b.as_bf16() {
        assert_eq!(v.len(), 12);
    }
    assert!(f.tensor("ffn.q4.sparse").unwrap().as_f32().is_err());
}

#[test]
fn sparse_views() {
    let bytes = sample_file();
    let f = TsrFile::parse(&bytes).unwrap();
    let s = f.tensor("ffn.q4.sparse").unwrap();
    let bitmap = s.sparse_bitmap().unwrap();
    assert_eq!(bitmap.len(), 8);
    let present: Vec<bool> = (0..8).map(|i| s.is_block_present(i)).collect();
    assert_eq!(present, (0..8).map(|i| i % 3 != 1).collect::<Vec<_>>());
    assert!(!s.is_block_present(8));
    assert_eq!(s.block_bytes().len(), 5 * 18); // blocks 0, 2, 3, 5, 6
    let k = f.tensor("attn.q4k.sparse").unwrap();
    // Blocks 0 (full, 136), 1 (short: 2 + 2 sub-scale bytes + 2 * 16 = 36), 3 (short): 208 bytes
    // after the bitmap.
    assert_eq!(k.block_bytes().len(), 136 + 36 + 36);
    let dense = f.tensor("ffn.q4").unwrap();
    assert_eq!(dense.sparse_bitmap(), None);
    assert_eq!(dense.block_bytes(), dense.bytes);
    assert!(dense.is_block_present(5));
}

#[test]
#[cfg_attr(miri, ignore)] // files and mmap
fn file_round_trip_through_mmap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.tsr");
    let mut w = Writer::create(&path).unwrap();
    w.set_alignment(4096).unwrap();
    write_samples(&mut w);
    // Nothing at the target until finish.
    assert!(!path.exists());
    w.finish().unwrap();
    let mapped = MappedTsr::open(&path).unwrap();
    let f = mapped.file();
    assert_eq!(f.alignment(), 4096);
    check_contents(&f);
    // mmap is page-aligned and so is every tensor: typed views always work here.
    assert_eq!(
        f.tensor("embed.f32").unwrap().as_f32().unwrap(),
        &[-1.0, -0.75, -0.5, -0.25, 0.0, 0.25]
    );
    assert_eq!(f.tensor("norm.f16").unwrap().as_f16().unwrap().len(), 5);
    assert_eq!(f.tensor("proj.bf16").unwrap().as_bf16().unwrap().len(), 12);
    // Only the target remains in the directory: no temp files left over.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn streaming_in_chunks_equals_one_shot() {
    let one_shot = sample_file();
    let mut w = Writer::in_memory();
    for (k, v) in every_metadata_value() {
        w.set_metadata(&k, v).unwrap();
    }
    for s in samples() {
        let mut t = w
            .begin_tensor(s.name, &s.shape, s.encoding, s.sparse)
            .unwrap();
        for chunk in s.bytes.chunks(7) {
            t.write(chunk).unwrap();
        }
        t.finish().unwrap();
    }
    assert_eq!(w.finish_to_vec().unwrap(), one_shot);
}

#[test]
fn empty_file_round_trips() {
    let bytes = Writer::in_memory().finish_to_vec().unwrap();
    let f = TsrFile::parse(&bytes).unwrap();
    assert!(f.metadata().is_empty() && f.tensors().is_empty());
    assert_eq!(bytes.len(), 64 + 16 + 32);
}

#[test]
fn metadata_set_after_tensors_is_kept() {
    let mut w = Writer::in_memory();
    w.add_tensor("t", &[16], Encoding::Raw(RawType::F32), false, &[0; 64])
        .unwrap();
    w.set_metadata("late", MetaValue::Bool(false)).unwrap();
    let bytes = w.finish_to_vec().unwrap();
    let f = TsrFile::parse(&bytes).unwrap();
    assert_eq!(f.get_metadata("late"), Some(&MetaValue::Bool(false)));
}

#[test]
#[cfg_attr(miri, ignore)] // files and mmap
fn mapped_open_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.tsr");
    assert!(matches!(
        MappedTsr::open(&missing),
        Err(FormatError::Io { ref path, .. }) if path == &missing
    ));
    let empty = dir.path().join("empty.tsr");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        MappedTsr::open(&empty),
        Err(FormatError::TooShort { len: 0, .. })
    ));
    let cut = dir.path().join("cut.tsr");
    let bytes = sample_file();
    std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(
        MappedTsr::open(&cut),
        Err(FormatError::MissingFooter)
    ));
}

/// Figures, not a check: `cargo test -p tessera-format --release --test roundtrip -- --ignored
/// --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    use std::time::Instant;
    const TENSORS: usize = 16;
    const BYTES: usize = 32 << 20;
    let data = bytes(BYTES, 9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.tsr");
    let start = Instant::now();
    let mut w = Writer::create(&path).unwrap();
    for i in 0..TENSORS {
        let name = format!("t{i}");
        w.add_tensor(
            &name,
            &[BYTES as u64],
            Encoding::Raw(RawType::U8),
            false,
            &data,
        )
        .unwrap();
    }
    w.finish().unwrap();
    let write = start.elapsed();
    let start = Instant::now();
    let mapped = MappedTsr::open(&path).unwrap();
    let open = start.elapsed();
    let f = mapped.file();
    let start = Instant::now();
    f.verify().unwrap();
    let verify = start.elapsed();
    let file = f.bytes();
    let gib = file.len() as f64 / (1u64 << 30) as f64;
    eprintln!(
        "{:.2} GiB in {}: write+fsync {:.2} GiB/s, mmap open {open:?}, verify {:.2} GiB/s on {} threads",
        gib,
        dir.path().display(),
        gib / write.as_secs_f64(),
        gib / verify.as_secs_f64(),
        rayon::current_num_threads()
    );
}
