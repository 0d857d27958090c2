//! Allocation bound of the reader: parsing any input of `n` bytes allocates at most
//! `BYTES_PER_INPUT_BYTE * n + FIXED_CAP` bytes in total (every allocation counted, freed or not),
//! measured with a counting global allocator. Inputs: every `tsr_parse` corpus file, every
//! hostile seed, and large files built to maximise what the reader keeps per input byte (many
//! minimal metadata entries, arrays of empty strings, many tiny tensors) plus huge counts and
//! lengths that are refused.
//!
//! This binary holds one test, so no other test thread allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tessera_format::{Encoding, MetaArray, MetaValue, RawType, TsrFile, Writer};
use tessera_tests::{corpus_dir, seeds};

/// The reader keeps, per directory byte, at most a few words (a `(String, MetaValue)` is 56
/// bytes for an 11-byte minimal metadata entry; an empty string in an array, 24 bytes for 8).
const BYTES_PER_INPUT_BYTE: usize = 8;
/// Fixed overhead independent of the input (error values, small vectors). Measured: at most
/// 2417 bytes for the seeds (a 697-byte file).
const FIXED_CAP: usize = 4096;

/// Counts bytes requested from the system allocator.
struct Counting;

static TOTAL: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a side note.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        TOTAL.fetch_add(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        TOTAL.fetch_add(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        TOTAL.fetch_add(new_size.saturating_sub(layout.size()), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes allocated while parsing `bytes` (the result is dropped inside the measurement).
fn parse_cost(bytes: &[u8]) -> usize {
    let before = TOTAL.load(Relaxed);
    let parsed = TsrFile::parse(bytes);
    let after = TOTAL.load(Relaxed);
    drop(parsed);
    after - before
}

/// Large files that maximise the reader's memory per input byte.
fn dense_directories() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();

    let mut w = Writer::in_memory();
    for i in 0..100_000u32 {
        w.set_metadata(&format!("{i:x}"), MetaValue::U8(0)).unwrap();
    }
    out.push((
        "100k minimal metadata entries".into(),
        w.finish_to_vec().unwrap(),
    ));

    let mut w = Writer::in_memory();
    w.set_metadata(
        "s",
        MetaValue::Array(MetaArray::Str(vec![String::new(); 1 << 20])),
    )
    .unwrap();
    out.push((
        "array of 2^20 empty strings".into(),
        w.finish_to_vec().unwrap(),
    ));

    let mut w = Writer::in_memory();
    w.set_metadata("b", MetaValue::Array(MetaArray::Bool(vec![true; 1 << 20])))
        .unwrap();
    out.push(("array of 2^20 bools".into(), w.finish_to_vec().unwrap()));

    let mut w = Writer::in_memory();
    for i in 0..20_000u32 {
        w.add_tensor(
            &format!("{i:x}"),
            &[1, 1, 1, 1, 1, 1, 1, 1],
            Encoding::Raw(RawType::U8),
            false,
            &[0],
        )
        .unwrap();
    }
    out.push((
        "20k rank-8 one-byte tensors".into(),
        w.finish_to_vec().unwrap(),
    ));
    out
}

#[test]
fn parsing_allocates_linearly_in_the_input() {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let dir = corpus_dir().join("tsr_parse");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        inputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    // Extra directories (e.g. a fuzzing campaign's working corpus), colon-separated.
    if let Ok(extra) = std::env::var("TESSERA_ALLOC_EXTRA_DIRS") {
        for d in extra.split(':').filter(|d| !d.is_empty()) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                inputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    for s in seeds::all().into_iter().filter(|s| s.target == "tsr_parse") {
        inputs.push((s.name, s.bytes));
    }
    inputs.extend(dense_directories());

    let mut worst = (0.0f64, String::new());
    for (name, bytes) in &inputs {
        let n = bytes.len();
        let cost = parse_cost(bytes);
        let bound = BYTES_PER_INPUT_BYTE * n + FIXED_CAP;
        assert!(
            cost <= bound,
            "{name}: {n} bytes made the reader allocate {cost} > {bound}"
        );
        if n > 100_000 {
            let ratio = cost as f64 / n as f64;
            println!("{name}: {n} bytes -> {cost} bytes allocated ({ratio:.2} per byte)");
            if ratio > worst.0 {
                worst = (ratio, name.clone());
            }
        } else {
            println!("{name}: {n} bytes -> {cost} bytes allocated");
        }
    }
    println!("worst ratio on large inputs: {:.2} ({})", worst.0, worst.1);
}
