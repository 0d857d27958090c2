//! The writer refuses what the reader would refuse, and never leaves a file at the target path
//! unless `finish` succeeded.

mod common;

use tessera_format::{Encoding, FormatError, MetaArray, MetaValue, RawType, TsrFile, Writer};

const F32: Encoding = Encoding::Raw(RawType::F32);
const Q4: Encoding = Encoding::IntSym { bits: 4 };

#[test]
fn duplicate_key_and_tensor_are_refused() {
    let mut w = Writer::in_memory();
    w.set_metadata("k", MetaValue::U8(1)).unwrap();
    assert!(matches!(
        w.set_metadata("k", MetaValue::U8(2)),
        Err(FormatError::DuplicateKey { ref key, .. }) if key == "k"
    ));
    w.add_tensor("t", &[16], F32, false, &[0; 64]).unwrap();
    assert!(matches!(
        w.add_tensor("t", &[16], F32, false, &[0; 64]),
        Err(FormatError::DuplicateTensor { ref tensor, .. }) if tensor == "t"
    ));
    // The refusals did not damage the file.
    let bytes = w.finish_to_vec().unwrap();
    let f = TsrFile::parse(&bytes).unwrap();
    assert_eq!(f.get_metadata("k"), Some(&MetaValue::U8(1)));
    assert_eq!(f.tensors().len(), 1);
}

#[test]
fn alignment_rules() {
    let mut w = Writer::in_memory();
    for bad in [0, 1, 32, 100, 1 << 22] {
        assert!(matches!(
            w.set_alignment(bad),
            Err(FormatError::InvalidAlignment { alignment, .. }) if alignment == bad
        ));
    }
    w.set_alignment(256).unwrap();
    w.add_tensor("a", &[3], F32, false, &[1; 12]).unwrap();
    assert!(matches!(
        w.set_alignment(64),
        Err(FormatError::AlignmentLocked)
    ));
    w.add_tensor("b", &[3], F32, false, &[2; 12]).unwrap();
    let bytes = w.finish_to_vec().unwrap();
    let f = TsrFile::parse(&bytes).unwrap();
    assert_eq!(f.alignment(), 256);
    assert_eq!(f.tensor("a").unwrap().info.offset, 256);
    assert_eq!(f.tensor("b").unwrap().info.offset, 512);
}

#[test]
fn bad_shapes_and_lengths_are_refused() {
    let mut w = Writer::in_memory();
    assert!(matches!(
        w.add_tensor("t", &[], F32, false, &[]),
        Err(FormatError::BadRank { rank: 0, .. })
    ));
    assert!(matches!(
        w.add_tensor("t", &[1; 9], F32, false, &[0; 4]),
        Err(FormatError::BadRank { rank: 9, .. })
    ));
    assert!(matches!(
        w.add_tensor("t", &[2, 0], F32, false, &[]),
        Err(FormatError::ZeroDim { axis: 1, .. })
    ));
    assert!(matches!(
        w.add_tensor("t", &[1 << 32, 1 << 32], F32, false, &[]),
        Err(FormatError::ShapeOverflow { .. })
    ));
    assert!(matches!(
        w.add_tensor("t", &[4], F32, true, &[0; 16]),
        Err(FormatError::SparseRaw { .. })
    ));
    assert!(matches!(
        w.add_tensor("", &[4], F32, false, &[0; 16]),
        Err(FormatError::EmptyName { .. })
    ));
    // Validation failures above wrote nothing: the writer is still usable.
    w.add_tensor("ok", &[4], F32, false, &[0; 16]).unwrap();
    // Too few and too many bytes poison it (bytes were or would be on disk).
    let mut w = Writer::in_memory();
    assert!(matches!(
        w.add_tensor("t", &[4], F32, false, &[0; 12]),
        Err(FormatError::LengthMismatch {
            expected: 16,
            actual: 12,
            ..
        })
    ));
    assert!(matches!(
        w.finish_to_vec(),
        Err(FormatError::WriterPoisoned)
    ));
    let mut w = Writer::in_memory();
    assert!(matches!(
        w.add_tensor("t", &[4], F32, false, &[0; 20]),
        Err(FormatError::LengthMismatch {
            expected: 16,
            actual: 20,
            ..
        })
    ));
}

#[test]
fn sparse_tensor_lengths_are_checked_while_streaming() {
    // q4 [2, 64]: 4 blocks; bitmap 0b0101 means 2 blocks of 18 bytes after the 8-byte bitmap.
    let mut bytes = 0b0101u64.to_le_bytes().to_vec();
    bytes.extend([0x33; 36]);
    let mut w = Writer::in_memory();
    let mut t = w.begin_tensor("s", &[2, 64], Q4, true).unwrap();
    for chunk in bytes.chunks(3) {
        t.write(chunk).unwrap();
    }
    t.finish().unwrap();
    let mut too_long = bytes.clone();
    too_long.push(0);
    assert!(matches!(
        w.add_tensor("s2", &[2, 64], Q4, true, &too_long),
        Err(FormatError::LengthMismatch {
            expected: 44,
            actual: 45,
            ..
        })
    ));
    let mut w = Writer::in_memory();
    let mut stray_bit = 0b1_0000u64.to_le_bytes().to_vec();
    stray_bit.extend([0; 18]);
    assert!(matches!(
        w.add_tensor("s", &[2, 64], Q4, true, &stray_bit),
        Err(FormatError::BadSparseBitmap { .. })
    ));
}

#[test]
fn unfinished_tensor_poisons_the_writer() {
    let mut w = Writer::in_memory();
    {
        let mut t = w.begin_tensor("t", &[4], F32, false).unwrap();
        t.write(&[0; 8]).unwrap();
        // dropped without finish
    }
    assert!(matches!(
        w.add_tensor("u", &[4], F32, false, &[0; 16]),
        Err(FormatError::WriterPoisoned)
    ));
    assert!(matches!(
        w.finish_to_vec(),
        Err(FormatError::WriterPoisoned)
    ));
}

#[test]
fn limits_are_enforced_on_write() {
    let mut w = Writer::in_memory();
    let long = "x".repeat(70_000);
    assert!(matches!(
        w.set_metadata(&long, MetaValue::U8(0)),
        Err(FormatError::StringTooLong { .. })
    ));
    assert!(w
        .set_metadata("ok", MetaValue::Array(MetaArray::Str(vec![long])))
        .is_ok());
}

#[test]
fn wrong_finish_is_refused() {
    let w = Writer::in_memory();
    assert!(matches!(w.finish(), Err(FormatError::WrongFinish { .. })));
}

#[test]
#[cfg_attr(miri, ignore)] // files
fn drop_without_finish_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("model.tsr");
    {
        let mut w = Writer::create(&target).unwrap();
        common::write_samples(&mut w);
        // The temporary file exists beside the target while writing...
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(!target.exists());
    }
    // ...and is gone after the drop; the target never appeared.
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
#[cfg_attr(miri, ignore)] // files
fn finish_replaces_an_existing_target_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("model.tsr");
    std::fs::write(&target, b"old contents").unwrap();
    let mut w = Writer::create(&target).unwrap();
    common::write_samples(&mut w);
    // Until finish the old file is untouched.
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    w.finish().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), common::sample_file());
}

#[test]
#[cfg_attr(miri, ignore)] // files
fn create_in_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no/such/dir/model.tsr");
    assert!(matches!(
        Writer::create(&target),
        Err(FormatError::Io { .. })
    ));
    assert!(!target.exists());
}

#[test]
fn reserved_keys_must_have_their_type() {
    let mut w = Writer::in_memory();
    assert!(matches!(
        w.set_metadata("general.architecture", MetaValue::U32(1)),
        Err(FormatError::ReservedKeyType {
            expected: "string",
            ..
        })
    ));
    w.set_metadata("general.architecture", MetaValue::Str("bert".into()))
        .unwrap();
    w.set_metadata("tessera.rel_rmse.w", MetaValue::F64(0.01))
        .unwrap();
    w.set_metadata("config.hidden_size", MetaValue::I64(384))
        .unwrap();
    let bytes = w.finish_to_vec().unwrap();
    assert_eq!(TsrFile::parse(&bytes).unwrap().metadata().len(), 3);
}
