//! `tessera convert`: safetensors in, `.tsr` out, one tensor at a time.
//!
//! For each tensor, in source order: map its bytes, cut it into chunks of whole rows, and process
//! a wave of chunks in parallel (decode to f32, optionally prune, quantize, decode back, measure
//! the error); then write the wave's results in chunk order. Chunk boundaries depend only on the
//! shape, and every row is quantized on its own, so the output bytes (and the error figures, whose
//! f64 sums are merged in chunk order) are the same for any thread count. Resident memory is the
//! mapped tensor plus one wave of chunks (and, for a sparse tensor, its quantized bytes, which
//! must be complete before the bitmap can be written).
//!
//! The output appears only when everything succeeded: the format's writer streams to a temporary
//! file and renames it on `finish`; any error (or an interrupt, see [`crate::signal`]) drops the
//! writer, which deletes the temporary file.

use crate::allocate::{allocate, Candidate};
use crate::dtype::{decode_floats, is_quantizable, raw_type};
use crate::error::{ConvertError, Result};
use crate::metadata::{self, converter_version};
use crate::recipe::{Choice, Recipe};
use crate::source::{Source, SourceTensor};
use crate::stats::{ErrorStats, ErrorSummary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tessera_format::{Encoding, MetaValue, RawType, Writer};
use tessera_reference::{dequantize, quantize_with, sparsify, Effort, Weights};

/// True once a SIGINT arrived (see [`crate::signal`]): the conversion stops between chunks, fails
/// with [`ConvertError::Interrupted`] and leaves nothing at the output path.
fn stop_requested() -> bool {
    crate::signal::flag().load(Ordering::Relaxed)
}

/// Elements per chunk: large enough to amortize the per-call overhead, small enough that a wave
/// of chunks stays a few tens of MB.
const CHUNK_ELEMS: usize = 1 << 20;
/// Bytes per write when a tensor is copied unchanged.
const COPY_CHUNK: usize = 8 << 20;
/// Rows per chunk for rows of `k` elements (shared with `verify`, so error sums match).
pub fn chunk_rows(k: usize) -> usize {
    (CHUNK_ELEMS / k.max(1)).max(1)
}

/// Rows sampled per tensor to estimate each candidate's error for `--target-bpw`.
const SAMPLE_ELEMS: usize = 1 << 16;

/// The encodings `--target-bpw` chooses from unless told otherwise.
pub const DEFAULT_CANDIDATES: &[&str] = &["q2k", "q2kh", "q3k", "q3kh", "q4k", "q5k", "q6k", "q8"];

/// How to convert.
#[derive(Clone, Debug)]
pub struct Options {
    pub recipe: Recipe,
    /// Choose block encodings per tensor under this average bits-per-weight budget.
    pub target_bpw: Option<f64>,
    /// The encodings `target_bpw` may choose.
    pub candidates: Vec<Encoding>,
    /// Store a tensor sparse when that is smaller (it has all-zero blocks).
    pub sparse_auto: bool,
    /// Zero this fraction of the lowest-norm blocks of every quantized tensor.
    pub prune_blocks: Option<f64>,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// How hard the quantizer searches (`--effort`): `Best` (the exact searches) or `Fast` (a
    /// few candidates per group; encodings without a fast search use `Best`).
    pub effort: Effort,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            recipe: Recipe::builtin(crate::recipe::DEFAULT_TYPE),
            target_bpw: None,
            candidates: DEFAULT_CANDIDATES
                .iter()
                .filter_map(|n| Encoding::from_name(n))
                .collect(),
            sparse_auto: false,
            prune_blocks: None,
            progress: false,
            effort: Effort::Best,
        }
    }
}

/// One tensor's line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub shape: Vec<usize>,
    pub source_dtype: String,
    pub encoding: String,
    pub bpw: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub sparse: bool,
    /// Fraction of storage blocks omitted (sparse tensors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted_blocks: Option<f64>,
    /// Error of the stored tensor against the source (None for non-float tensors).
    #[serde(flatten)]
    pub error: Option<ErrorSummary>,
    /// Relative RMSE caused by `--prune-blocks` alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_rel_rmse: Option<f64>,
    /// Why the tensor was stored as it was, when that is not the recipe's plain choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole conversion's report (`--report` writes it as JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub converter: String,
    pub input: PathBuf,
    pub output: PathBuf,
    pub source_sha256: Vec<(String, String)>,
    pub recipe: String,
    pub target_bpw: Option<f64>,
    /// The quantizer effort, `best` or `fast`.
    pub effort: String,
    pub threads: usize,
    pub tensors: Vec<TensorReport>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Average bits per weight over the quantized tensors.
    pub avg_bpw_quantized: f64,
    /// Average bits per weight over every tensor.
    pub avg_bpw: f64,
    pub seconds: f64,
    pub mb_per_s: f64,
}

/// What will happen to one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// Copy the bytes unchanged as this raw type.
    Copy(RawType),
    /// Convert (quantize, or change float width) to this encoding.
    Encode(Encoding),
}

/// Converts `source` into a new file at `output`.
pub fn convert(source: &Source, output: &Path, opts: &Options) -> Result<Report> {
    let started = Instant::now();
    check_output_is_not_input(source, output)?;
    if let Some(f) = opts.prune_blocks {
        if !(0.0..1.0).contains(&f) {
            return Err(ConvertError::Usage(format!(
                "--prune-blocks {f}: must be at least 0 and below 1"
            )));
        }
    }
    let (mut plans, mut notes) = plan(source, opts)?;
    if let Some(target) = opts.target_bpw {
        choose_for_budget(source, opts, target, &mut plans, &mut notes)?;
    }

    // Hash the source on another thread while converting (reads go through the page cache, so the
    // two passes share the disk reads).
    let shard_paths: Vec<PathBuf> = source.shards.iter().map(|s| s.path.clone()).collect();
    let hasher = std::thread::spawn(move || -> Result<Vec<(String, String)>> {
        shard_paths
            .iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok((name, metadata::sha256_file(p)?))
            })
            .collect()
    });

    let mut writer = Writer::create(output).map_err(|e| ConvertError::Format {
        path: output.into(),
        reason: format!("cannot create: {e}"),
    })?;
    let bar = progress_bar(opts.progress, source.data_bytes());
    let mut reports = Vec::with_capacity(source.tensors.len());
    for ((t, plan), note) in source.tensors.iter().zip(&plans).zip(notes) {
        if stop_requested() {
            return Err(ConvertError::Interrupted {
                path: output.into(),
                tensor: t.name.clone(),
            });
        }
        bar.set_message(t.name.clone());
        let mut r = match plan {
            None => skipped(t),
            Some(Plan::Copy(raw)) => copy_tensor(source, t, *raw, &mut writer, output, &bar)?,
            Some(Plan::Encode(e)) => encode_tensor(source, t, *e, opts, &mut writer, output, &bar)?,
        };
        r.note = r.note.or(note);
        reports.push(r);
    }
    bar.finish_and_clear();

    let sha = hasher.join().map_err(|_| ConvertError::Format {
        path: source.input.clone(),
        reason: "hashing thread panicked".into(),
    })??;
    let recipe_text = recipe_record(opts);
    write_metadata(
        &mut writer,
        source,
        output,
        &sha,
        &recipe_text,
        opts.effort,
        &reports,
    )?;
    if stop_requested() {
        return Err(ConvertError::Interrupted {
            path: output.into(),
            tensor: "(metadata)".into(),
        });
    }
    writer.finish().map_err(|e| ConvertError::Format {
        path: output.into(),
        reason: format!("finishing: {e}; nothing was written"),
    })?;

    let bytes_in = source.data_bytes();
    let bytes_out = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    let elems = |f: &dyn Fn(&TensorReport) -> bool| -> (f64, f64) {
        reports
            .iter()
            .filter(|r| f(r))
            .fold((0.0, 0.0), |(e, b), r| {
                let n: usize = r.shape.iter().product();
                (e + n as f64, b + 8.0 * r.bytes_out as f64)
            })
    };
    let (qe, qb) = elems(&|r| Encoding::from_name(&r.encoding).is_some_and(|e| e.is_blocked()));
    let (ae, ab) = elems(&|_| true);
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        converter: converter_version(),
        input: source.input.clone(),
        output: output.into(),
        source_sha256: sha,
        recipe: recipe_text,
        target_bpw: opts.target_bpw,
        effort: opts.effort.name().into(),
        threads: rayon::current_num_threads(),
        tensors: reports,
        bytes_in,
        bytes_out,
        avg_bpw_quantized: if qe > 0.0 { qb / qe } else { 0.0 },
        avg_bpw: if ae > 0.0 { ab / ae } else { 0.0 },
        seconds,
        mb_per_s: bytes_in as f64 / 1e6 / seconds.max(1e-9),
    })
}

fn check_output_is_not_input(source: &Source, output: &Path) -> Result<()> {
    let out = std::fs::canonicalize(output).ok();
    for s in &source.shards {
        if out.is_some() && std::fs::canonicalize(&s.path).ok() == out {
            return Err(ConvertError::Usage(format!(
                "{}: the output would overwrite the input",
                output.display()
            )));
        }
    }
    Ok(())
}

/// The recipe's decision for every tensor (None: cannot be stored, see the note).
/// Per tensor: what to do (None: not stored) and a note for the report.
type Plans = (Vec<Option<Plan>>, Vec<Option<String>>);

fn plan(source: &Source, opts: &Options) -> Result<Plans> {
    let mut plans = Vec::with_capacity(source.tensors.len());
    let mut notes = Vec::with_capacity(source.tensors.len());
    for t in &source.tensors {
        let path = &source.shards[t.shard].path;
        let bad = |reason: String| ConvertError::BadTensor {
            path: path.clone(),
            tensor: t.name.clone(),
            reason,
        };
        if t.shape.len() > 8 {
            return Err(bad(format!(
                "rank {} is above the format's 8",
                t.shape.len()
            )));
        }
        if t.shape.contains(&0) {
            plans.push(None);
            notes.push(Some("empty tensor (a zero dimension): not stored".into()));
            continue;
        }
        let Some(raw) = raw_type(t.dtype) else {
            return Err(bad(format!("dtype {:?} has no tessera raw type", t.dtype)));
        };
        if !is_quantizable(t.dtype) {
            plans.push(Some(Plan::Copy(raw)));
            notes.push(Some(format!("{:?} stored raw", t.dtype)));
            continue;
        }
        let p = match opts.recipe.choose(&t.name, t.shape.len()) {
            Choice::Raw => Plan::Copy(raw),
            Choice::Encode(Encoding::Raw(r)) if r == raw => Plan::Copy(raw),
            Choice::Encode(e) => Plan::Encode(e),
        };
        plans.push(Some(p));
        notes.push(None);
    }
    Ok((plans, notes))
}

/// Shape as stored: a rank-0 scalar becomes `[1]` (the format has no rank 0).
fn stored_shape(t: &SourceTensor) -> Vec<u64> {
    if t.shape.is_empty() {
        vec![1]
    } else {
        t.shape.iter().map(|&d| d as u64).collect()
    }
}

/// Rows and row length of a tensor.
fn rows_k(t: &SourceTensor) -> (usize, usize) {
    let k = t.shape.last().copied().unwrap_or(1);
    (t.elements() / k.max(1), k)
}

fn skipped(t: &SourceTensor) -> TensorReport {
    TensorReport {
        name: t.name.clone(),
        shape: t.shape.clone(),
        source_dtype: format!("{:?}", t.dtype),
        encoding: "(not stored)".into(),
        bpw: 0.0,
        bytes_in: t.len,
        bytes_out: 0,
        sparse: false,
        omitted_blocks: None,
        error: None,
        prune_rel_rmse: None,
        note: None,
    }
}

fn write_err(output: &Path, tensor: &str) -> impl Fn(tessera_format::FormatError) -> ConvertError {
    let output = output.to_path_buf();
    let tensor = tensor.to_string();
    move |e| ConvertError::Write {
        path: output.clone(),
        tensor: tensor.clone(),
        reason: e.to_string(),
    }
}

fn interrupted(output: &Path, t: &SourceTensor) -> Result<()> {
    if stop_requested() {
        return Err(ConvertError::Interrupted {
            path: output.into(),
            tensor: t.name.clone(),
        });
    }
    Ok(())
}

fn copy_tensor(
    source: &Source,
    t: &SourceTensor,
    raw: RawType,
    writer: &mut Writer,
    output: &Path,
    bar: &ProgressBar,
) -> Result<TensorReport> {
    let bytes = source.map_tensor(t)?;
    let werr = write_err(output, &t.name);
    let mut tw = writer
        .begin_tensor(&t.name, &stored_shape(t), Encoding::Raw(raw), false)
        .map_err(&werr)?;
    for chunk in bytes.chunks(COPY_CHUNK) {
        interrupted(output, t)?;
        tw.write(chunk).map_err(&werr)?;
        bar.inc(chunk.len() as u64);
    }
    tw.finish().map_err(&werr)?;
    let exact = is_quantizable(t.dtype).then(|| {
        ErrorStats {
            count: t.elements() as u64,
            ..ErrorStats::default()
        }
        .summary()
    });
    Ok(TensorReport {
        name: t.name.clone(),
        shape: t.shape.clone(),
        source_dtype: format!("{:?}", t.dtype),
        encoding: Encoding::Raw(raw).name(),
        bpw: 8.0 * raw.size() as f64,
        bytes_in: t.len,
        bytes_out: t.len,
        sparse: false,
        omitted_blocks: None,
        error: exact,
        prune_rel_rmse: None,
        note: None,
    })
}

/// One chunk's output.
struct ChunkOut {
    bytes: Vec<u8>,
    error: ErrorStats,
    prune: ErrorStats,
}

#[allow(clippy::too_many_arguments)]
fn encode_tensor(
    source: &Source,
    t: &SourceTensor,
    e: Encoding,
    opts: &Options,
    writer: &mut Writer,
    output: &Path,
    bar: &ProgressBar,
) -> Result<TensorReport> {
    let src_path = &source.shards[t.shard].path;
    let codec_err = |reason: String| ConvertError::Codec {
        path: src_path.clone(),
        tensor: t.name.clone(),
        reason,
    };
    let bytes = source.map_tensor(t)?;
    let (rows, k) = rows_k(t);
    let elem = t.dtype.bitsize() / 8;
    let pruned = match opts.prune_blocks {
        Some(f) if f > 0.0 && e.is_blocked() => Some(prune_mask(t.dtype, &bytes, rows, k, e, f)),
        _ => None,
    };
    let chunk_rows = chunk_rows(k);
    let chunks = rows.div_ceil(chunk_rows);
    let wave = 2 * rayon::current_num_threads();
    let shape = stored_shape(t);
    let werr = write_err(output, &t.name);

    let process = |c: usize| -> Result<ChunkOut> {
        let r0 = c * chunk_rows;
        let nr = chunk_rows.min(rows - r0);
        let src = &bytes[r0 * k * elem..(r0 + nr) * k * elem];
        // This thread's buffers from its previous chunk (taken, not borrowed: rayon may run
        // another chunk on this thread while this one waits inside `quantize_with`).
        let (mut orig, mut back) = SCRATCH.take();
        decode_floats(t.dtype, src, &mut orig)
            .ok_or_else(|| codec_err("data length does not match its dtype".into()))?;
        let mut prune = ErrorStats::default();
        let pruned_values = pruned.as_ref().map(|mask| {
            let mut v = orig.clone();
            zero_pruned(&mut v, mask, r0, nr, k, e);
            prune = ErrorStats::measure(&orig, &v);
            v
        });
        let input = pruned_values.as_deref().unwrap_or(&orig);
        let q = quantize_with(e, nr, k, input, None, opts.effort).map_err(|err| {
            codec_err(match err {
                tessera_reference::RefError::NonFinite { index, value, .. } => format!(
                    "non-finite value {value} at element {} cannot be quantized to {e}",
                    r0 * k + index
                ),
                other => other.to_string(),
            })
        })?;
        decode_chunk(e, nr, k, &q, &mut back).map_err(codec_err)?;
        let error = ErrorStats::measure(&orig, &back);
        SCRATCH.set((orig, back));
        Ok(ChunkOut {
            error,
            bytes: q,
            prune,
        })
    };

    let mut error = ErrorStats::default();
    let mut prune = ErrorStats::default();
    // Sparse storage needs the whole tensor's blocks before the bitmap can be written.
    let mut dense_all: Vec<u8> = Vec::new();
    let want_sparse_check = opts.sparse_auto && e.is_blocked();
    // The streaming writer borrows `writer`; its scope ends before a sparse tensor is added.
    {
        let mut tw = if want_sparse_check {
            None
        } else {
            Some(
                writer
                    .begin_tensor(&t.name, &shape, e, false)
                    .map_err(&werr)?,
            )
        };
        let mut c0 = 0;
        while c0 < chunks {
            interrupted(output, t)?;
            let c1 = (c0 + wave).min(chunks);
            let outs: Vec<Result<ChunkOut>> = (c0..c1).into_par_iter().map(process).collect();
            for (c, out) in (c0..c1).zip(outs) {
                let out = out?;
                error.merge(&out.error);
                prune.merge(&out.prune);
                match tw.as_mut() {
                    Some(tw) => tw.write(&out.bytes).map_err(&werr)?,
                    None => dense_all.extend_from_slice(&out.bytes),
                }
                let nr = chunk_rows.min(rows - c * chunk_rows);
                bar.inc((nr * k * elem) as u64);
            }
            c0 = c1;
        }
        if let Some(tw) = tw {
            tw.finish().map_err(&werr)?;
        }
    }
    let dense_len = e
        .tensor_bytes(&shape)
        .ok_or_else(|| codec_err("shape overflows".into()))?;
    let (bytes_out, sparse, omitted) = match want_sparse_check {
        false => (dense_len, false, None),
        true => {
            let sparse_bytes =
                sparsify(e, rows, k, &dense_all).map_err(|err| codec_err(err.to_string()))?;
            let blocks = rows as u64 * e.blocks_per_row(k as u64);
            if (sparse_bytes.len() as u64) < dense_len {
                writer
                    .add_tensor(&t.name, &shape, e, true, &sparse_bytes)
                    .map_err(&werr)?;
                let present: u64 = sparse_bytes[..blocks.div_ceil(64) as usize * 8]
                    .iter()
                    .map(|b| b.count_ones() as u64)
                    .sum();
                let omitted = 1.0 - present as f64 / blocks as f64;
                (sparse_bytes.len() as u64, true, Some(omitted))
            } else {
                writer
                    .add_tensor(&t.name, &shape, e, false, &dense_all)
                    .map_err(&werr)?;
                (dense_len, false, None)
            }
        }
    };
    Ok(TensorReport {
        name: t.name.clone(),
        shape: t.shape.clone(),
        source_dtype: format!("{:?}", t.dtype),
        encoding: e.name(),
        bpw: 8.0 * bytes_out as f64 / t.elements() as f64,
        bytes_in: t.len,
        bytes_out,
        sparse,
        omitted_blocks: omitted,
        error: Some(error.summary()),
        prune_rel_rmse: pruned.as_ref().map(|_| prune.rel_rmse()),
        note: None,
    })
}

/// Decodes quantized rows for the error figures: with the fastest SIMD kernel tier of this CPU
/// (the same bits as the reference, which the kernels guarantee and test), or with the reference
/// where there is no SIMD tier or the tier does not decode `e`. Either way the values are those
/// `verify --against` measures.
fn decode_chunk(
    e: Encoding,
    rows: usize,
    k: usize,
    bytes: &[u8],
    out: &mut Vec<f32>,
) -> std::result::Result<(), String> {
    let isa = tessera_kernels::best_isa();
    if isa != tessera_kernels::Isa::Scalar {
        if let (Ok(kern), Ok(view)) = (
            tessera_kernels::kernels_for(isa),
            tessera_kernels::WeightView::new(e, rows, k, bytes),
        ) {
            out.resize(rows * k, 0.0);
            if kern.dequantize_rows(&view, 0..rows, out).is_ok() {
                return Ok(());
            }
        }
    }
    *out = dequantize(&Weights {
        encoding: e,
        rows,
        k,
        bytes,
        sparse: false,
    })
    .map_err(|err| err.to_string())?;
    Ok(())
}

thread_local! {
    /// Per-thread decode buffers (source values, decoded values) reused from chunk to chunk, so
    /// a conversion does not map and fault in fresh pages for every chunk.
    static SCRATCH: std::cell::Cell<(Vec<f32>, Vec<f32>)> = const {
        std::cell::Cell::new((Vec::new(), Vec::new()))
    };
}

/// Which storage blocks `--prune-blocks f` zeroes: the `floor(f * blocks)` with the smallest
/// sum of squares (ties broken by position, so the choice is reproducible). One bit per block.
fn prune_mask(
    dtype: safetensors::Dtype,
    bytes: &[u8],
    rows: usize,
    k: usize,
    e: Encoding,
    f: f64,
) -> Vec<bool> {
    let per_row = e.blocks_per_row(k as u64) as usize;
    let be = e.block_elems();
    let elem = dtype.bitsize() / 8;
    let norms: Vec<f64> = (0..rows)
        .into_par_iter()
        .flat_map_iter(|r| {
            let mut v = Vec::new();
            decode_floats(dtype, &bytes[r * k * elem..(r + 1) * k * elem], &mut v);
            (0..per_row)
                .map(|b| {
                    v[b * be..((b + 1) * be).min(k)]
                        .iter()
                        .map(|&x| (x as f64) * (x as f64))
                        .sum::<f64>()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let n = norms.len();
    let count = ((f * n as f64).floor() as usize).min(n);
    let mut mask = vec![false; n];
    if count == 0 {
        return mask;
    }
    let mut order: Vec<usize> = (0..n).collect();
    let key = |&i: &usize| (norms[i], i);
    order.select_nth_unstable_by(count - 1, |a, b| {
        let (x, y) = (key(a), key(b));
        x.0.total_cmp(&y.0).then(x.1.cmp(&y.1))
    });
    for &i in &order[..count] {
        mask[i] = true;
    }
    mask
}

/// Zeroes the pruned blocks of rows `r0..r0 + nr` in `v` (those rows, row-major).
fn zero_pruned(v: &mut [f32], mask: &[bool], r0: usize, nr: usize, k: usize, e: Encoding) {
    let per_row = e.blocks_per_row(k as u64) as usize;
    let be = e.block_elems();
    for r in 0..nr {
        for b in 0..per_row {
            if mask[(r0 + r) * per_row + b] {
                let row = &mut v[r * k..(r + 1) * k];
                row[b * be..((b + 1) * be).min(k)].fill(0.0);
            }
        }
    }
}

/// `--target-bpw`: replaces the block encodings the recipe chose with the budgeted choice.
fn choose_for_budget(
    source: &Source,
    opts: &Options,
    target: f64,
    plans: &mut [Option<Plan>],
    notes: &mut [Option<String>],
) -> Result<()> {
    if opts.candidates.is_empty() || opts.candidates.iter().any(|e| !e.is_blocked()) {
        return Err(ConvertError::Usage(
            "--candidates must name block encodings".into(),
        ));
    }
    let eligible: Vec<usize> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Some(Plan::Encode(e)) if e.is_blocked()))
        .map(|(i, _)| i)
        .collect();
    let mut table = Vec::with_capacity(eligible.len());
    let mut elements = Vec::with_capacity(eligible.len());
    for &i in &eligible {
        let t = &source.tensors[i];
        table.push(measure_candidates(
            source,
            t,
            &opts.candidates,
            opts.effort,
        )?);
        elements.push(t.elements() as u64);
    }
    let picks = allocate(&table, &elements, target).map_err(|e| {
        ConvertError::Usage(format!(
            "--target-bpw {target}: the cheapest candidates already need {:.3} bits per weight",
            e.min_bpw
        ))
    })?;
    for ((&i, &pick), cands) in eligible.iter().zip(&picks).zip(&table) {
        let e = opts.candidates[cands[pick].choice];
        plans[i] = Some(Plan::Encode(e));
        notes[i] = Some(format!("chosen for --target-bpw {target}"));
    }
    Ok(())
}

/// Each candidate's bits for the whole tensor and estimated weighted error (elements times the
/// relative MSE measured on evenly spaced sample rows).
fn measure_candidates(
    source: &Source,
    t: &SourceTensor,
    candidates: &[Encoding],
    effort: Effort,
) -> Result<Vec<Candidate>> {
    let (rows, k) = rows_k(t);
    let take = (SAMPLE_ELEMS / k).clamp(1, rows);
    let bytes = source.map_tensor(t)?;
    let elem = t.dtype.bitsize() / 8;
    let mut sample = Vec::with_capacity(take * k);
    let mut row = Vec::new();
    for s in 0..take {
        // Evenly spaced rows, first and last included when more than one is taken.
        let r = if take == 1 {
            0
        } else {
            s * (rows - 1) / (take - 1)
        };
        decode_floats(t.dtype, &bytes[r * k * elem..(r + 1) * k * elem], &mut row);
        sample.extend_from_slice(&row);
    }
    drop(bytes);
    let shape = stored_shape(t);
    let n = t.elements() as f64;
    candidates
        .par_iter()
        .enumerate()
        .map(|(ci, &e)| {
            let err = |reason: String| ConvertError::Codec {
                path: source.shards[t.shard].path.clone(),
                tensor: t.name.clone(),
                reason,
            };
            let q =
                quantize_with(e, take, k, &sample, None, effort).map_err(|x| err(x.to_string()))?;
            let back = dequantize(&Weights {
                encoding: e,
                rows: take,
                k,
                bytes: &q,
                sparse: false,
            })
            .map_err(|x| err(x.to_string()))?;
            let bits = 8.0 * e.tensor_bytes(&shape).unwrap_or(u64::MAX) as f64;
            Ok(Candidate {
                choice: ci,
                bits,
                error: n * ErrorStats::measure(&sample, &back).rel_mse(),
            })
        })
        .collect()
}

fn recipe_record(opts: &Options) -> String {
    let mut s = opts.recipe.to_toml();
    if let Some(t) = opts.target_bpw {
        let names: Vec<String> = opts.candidates.iter().map(|e| e.name()).collect();
        s.push_str(&format!(
            "# --target-bpw {t} over candidates {}\n",
            names.join(",")
        ));
    }
    if opts.effort != Effort::Best {
        s.push_str(&format!("# --effort {}\n", opts.effort));
    }
    if opts.sparse_auto {
        s.push_str("# --sparse auto\n");
    }
    if let Some(f) = opts.prune_blocks {
        s.push_str(&format!("# --prune-blocks {f}\n"));
    }
    s
}

fn write_metadata(
    w: &mut Writer,
    source: &Source,
    output: &Path,
    sha: &[(String, String)],
    recipe: &str,
    effort: Effort,
    reports: &[TensorReport],
) -> Result<()> {
    let mut entries: Vec<(String, MetaValue)> = vec![
        (
            metadata::CONVERTER_KEY.into(),
            MetaValue::Str(converter_version()),
        ),
        (metadata::RECIPE_KEY.into(), MetaValue::Str(recipe.into())),
        (
            metadata::EFFORT_KEY.into(),
            MetaValue::Str(effort.name().into()),
        ),
    ];
    for (name, hash) in sha {
        let key = if sha.len() == 1 {
            metadata::SHA256_KEY.to_string()
        } else {
            format!("{}.{name}", metadata::SHA256_KEY)
        };
        entries.push((key, MetaValue::Str(hash.clone())));
    }
    for (k, v) in &source.metadata {
        entries.push((
            format!("{}{k}", metadata::SOURCE_META_PREFIX),
            MetaValue::Str(v.clone()),
        ));
    }
    entries.extend(metadata::read_config(&source.dir)?);
    for r in reports {
        if let Some(rel) = r.error.and_then(|e| e.rel_rmse) {
            entries.push((
                format!("{}{}", metadata::ERROR_PREFIX, r.name),
                MetaValue::F64(rel),
            ));
        }
    }
    for (k, v) in entries {
        w.set_metadata(&k, v)
            .map_err(write_err(output, &format!("(metadata {k})")))?;
    }
    Ok(())
}

fn progress_bar(wanted: bool, total: u64) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
