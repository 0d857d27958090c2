//! The safetensors front end: a single file, a sharded directory, or its index file.
//!
//! Parsing is the `safetensors` crate's (over a memory map); this module adds what it does not
//! check: a header that starts with whitespace, a key given twice in a header or in the index (the
//! crate keeps the last one silently), a tensor present in two shards, a shard named in the index
//! but missing, a tensor listed in the index but absent from its shard (or present but unlisted),
//! and shard names that would leave the checkpoint's directory.
//!
//! Tensor data is mapped one tensor at a time ([`Source::map_tensor`]) and unmapped when the caller
//! drops it, so the process never holds more than one tensor's pages: resident memory stays near
//! the largest tensor however big the checkpoint is.

use crate::error::{io_err, ConvertError, Result};
use crate::strict_json::{check_no_duplicate_keys, JsonProblem};
use memmap2::{Mmap, MmapOptions};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The index file of a sharded checkpoint.
pub const INDEX_NAME: &str = "model.safetensors.index.json";
/// The single-file checkpoint looked for in a directory without an index.
pub const SINGLE_NAME: &str = "model.safetensors";
/// The safetensors crate's own limit on header size; we apply it before reading the header.
const MAX_HEADER: u64 = 100_000_000;

/// One shard (or the single file) of a checkpoint.
#[derive(Debug)]
pub struct Shard {
    pub path: PathBuf,
    file: File,
    pub len: u64,
}

/// One tensor of the checkpoint, located in its shard.
#[derive(Debug, Clone)]
pub struct SourceTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Index into [`Source::shards`].
    pub shard: usize,
    /// Absolute byte offset of the data in the shard file.
    pub offset: u64,
    /// Bytes of data.
    pub len: u64,
}

impl SourceTensor {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A checked checkpoint: every tensor once, every byte range inside its shard.
#[derive(Debug)]
pub struct Source {
    /// What the user named (file, directory or index).
    pub input: PathBuf,
    /// The directory holding the checkpoint (where config.json is looked for).
    pub dir: PathBuf,
    pub shards: Vec<Shard>,
    /// In storage order: shards in index order, then by data offset.
    pub tensors: Vec<SourceTensor>,
    /// The union of the shards' `__metadata__` maps (the first shard wins on a conflict).
    pub metadata: BTreeMap<String, String>,
}

/// One tensor's bytes, mapped for as long as this value lives.
pub enum TensorBytes {
    Mapped(Mmap),
    Empty,
}

impl std::ops::Deref for TensorBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            TensorBytes::Mapped(m) => m,
            TensorBytes::Empty => &[],
        }
    }
}

impl Source {
    /// Opens `input`: a .safetensors file, a directory (with an index, or with model.safetensors),
    /// or an index file.
    pub fn open(input: &Path) -> Result<Source> {
        let meta = std::fs::metadata(input).map_err(io_err(input))?;
        if meta.is_dir() {
            let index = input.join(INDEX_NAME);
            if index.is_file() {
                return Self::open_index(input, &index);
            }
            let single = input.join(SINGLE_NAME);
            if single.is_file() {
                return Self::open_single(input, &single);
            }
            return Err(ConvertError::NoIndex { path: input.into() });
        }
        let text_start = {
            // An index is JSON text; a safetensors file starts with an 8-byte length.
            let name = input.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".json")
        };
        if text_start {
            let dir = parent_dir(input);
            Self::open_index(&dir, input)
        } else {
            Self::open_single(input, input)
        }
    }

    fn open_single(input: &Path, file: &Path) -> Result<Source> {
        let shard = read_shard(file)?;
        let mut tensors = Vec::with_capacity(shard.tensors.len());
        for mut t in shard.tensors {
            t.shard = 0;
            tensors.push(t);
        }
        Ok(Source {
            input: input.into(),
            dir: parent_dir(file),
            shards: vec![shard.shard],
            tensors,
            metadata: shard.metadata,
        })
    }

    fn open_index(dir: &Path, index: &Path) -> Result<Source> {
        let bad = |reason: String| ConvertError::BadIndex {
            path: index.into(),
            reason,
        };
        let text = std::fs::read_to_string(index).map_err(io_err(index))?;
        match check_no_duplicate_keys(&text) {
            Ok(()) => {}
            Err(JsonProblem::DuplicateKey { parent, key }) if parent == "weight_map" => {
                return Err(ConvertError::DuplicateTensor {
                    path: index.into(),
                    tensor: key,
                    detail: " in weight_map".into(),
                })
            }
            Err(p) => return Err(bad(p.to_string())),
        }
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("no \"weight_map\" object".into()))?;

        // Shards in the order they are first named; tensor -> shard name.
        let mut shard_names: Vec<String> = Vec::new();
        let mut listed: HashMap<String, String> = HashMap::with_capacity(map.len());
        for (tensor, shard) in map {
            let shard = shard
                .as_str()
                .ok_or_else(|| bad(format!("tensor {tensor:?}: shard is not a string")))?;
            if shard.is_empty() || shard.contains(['/', '\\']) || shard == ".." || shard == "." {
                return Err(bad(format!(
                    "tensor {tensor:?}: shard name {shard:?} is not a file name in the directory"
                )));
            }
            if !shard_names.iter().any(|s| s == shard) {
                shard_names.push(shard.to_string());
            }
            listed.insert(tensor.clone(), shard.to_string());
        }
        shard_names.sort();

        // Read every shard first, so that a tensor stored twice is reported as such before any
        // disagreement with the index.
        let mut read = Vec::with_capacity(shard_names.len());
        for shard_name in &shard_names {
            let path = dir.join(shard_name);
            if !path.is_file() {
                let tensor = map
                    .iter()
                    .find(|(_, s)| s.as_str() == Some(shard_name))
                    .map(|(t, _)| t.clone())
                    .unwrap_or_default();
                return Err(ConvertError::ShardMissing {
                    path: index.into(),
                    shard: shard_name.clone(),
                    tensor,
                });
            }
            read.push(read_shard(&path)?);
        }
        let mut found: HashMap<String, usize> = HashMap::with_capacity(listed.len());
        for (si, r) in read.iter().enumerate() {
            for t in &r.tensors {
                if let Some(&other) = found.get(&t.name) {
                    return Err(ConvertError::DuplicateTensor {
                        path: r.shard.path.clone(),
                        tensor: t.name.clone(),
                        detail: format!(" (also in {})", read[other].shard.path.display()),
                    });
                }
                found.insert(t.name.clone(), si);
            }
        }
        let mut shards = Vec::with_capacity(read.len());
        let mut tensors = Vec::with_capacity(listed.len());
        let mut metadata = BTreeMap::new();
        for (si, (shard_name, r)) in shard_names.iter().zip(read).enumerate() {
            for mut t in r.tensors {
                match listed.get(&t.name) {
                    Some(s) if s == shard_name => {}
                    Some(s) => {
                        return Err(bad(format!(
                            "tensor {:?} is listed in shard {s:?} but stored in {shard_name:?}",
                            t.name
                        )))
                    }
                    None => {
                        return Err(ConvertError::TensorUnlisted {
                            path: r.shard.path.clone(),
                            tensor: t.name,
                        })
                    }
                }
                t.shard = si;
                tensors.push(t);
            }
            for (k, v) in r.metadata {
                metadata.entry(k).or_insert(v);
            }
            shards.push(r.shard);
        }
        // Every listed tensor must have been found in its shard.
        let mut absent: Vec<(&String, &String)> = listed
            .iter()
            .filter(|(t, _)| !found.contains_key(*t))
            .collect();
        absent.sort();
        if let Some((tensor, shard)) = absent.first() {
            return Err(ConvertError::TensorAbsent {
                path: index.into(),
                tensor: (*tensor).clone(),
                shard: (*shard).clone(),
            });
        }
        Ok(Source {
            input: index.into(),
            dir: dir.into(),
            shards,
            tensors,
            metadata,
        })
    }

    /// Total bytes of tensor data.
    pub fn data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.len).sum()
    }

    /// Maps one tensor's bytes; the mapping ends when the result is dropped.
    pub fn map_tensor(&self, t: &SourceTensor) -> Result<TensorBytes> {
        if t.len == 0 {
            return Ok(TensorBytes::Empty);
        }
        let shard = &self.shards[t.shard];
        let len = usize::try_from(t.len).map_err(|_| ConvertError::BadTensor {
            path: shard.path.clone(),
            tensor: t.name.clone(),
            reason: "larger than the address space".into(),
        })?;
        // SAFETY: a read-only private mapping of a range checked to lie inside the file when the
        // header was read. As with any mmap, the file must not be truncated while we read it; the
        // safetensors crate's own loaders make the same assumption.
        let map = unsafe {
            MmapOptions::new()
                .offset(t.offset)
                .len(len)
                .map(&shard.file)
        }
        .map_err(io_err(&shard.path))?;
        Ok(TensorBytes::Mapped(map))
    }
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.into(),
        _ => PathBuf::from("."),
    }
}

struct ReadShard {
    shard: Shard,
    tensors: Vec<SourceTensor>,
    metadata: BTreeMap<String, String>,
}

/// Reads and checks one safetensors file's header.
fn read_shard(path: &Path) -> Result<ReadShard> {
    let bad = |reason: String| ConvertError::BadHeader {
        path: path.into(),
        reason,
    };
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len < 8 {
        return Err(bad(format!(
            "file is {len} bytes, shorter than the 8-byte length"
        )));
    }
    // SAFETY: read-only mapping of a file we opened; it is only read while `map` lives here.
    let map = unsafe { Mmap::map(&file) }.map_err(io_err(path))?;
    let mut n_bytes = [0u8; 8];
    n_bytes.copy_from_slice(&map[..8]);
    let n = u64::from_le_bytes(n_bytes);
    if n > MAX_HEADER || n > len - 8 {
        return Err(bad(format!(
            "header length {n} does not fit in the file ({len} bytes)"
        )));
    }
    let header = &map[8..8 + n as usize];
    if header.first() != Some(&b'{') {
        return Err(bad(
            "header does not start with '{' (leading whitespace or not JSON)".into(),
        ));
    }
    let text = std::str::from_utf8(header).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    match check_no_duplicate_keys(text) {
        Ok(()) => {}
        Err(JsonProblem::DuplicateKey { parent, key }) if parent.is_empty() => {
            return Err(ConvertError::DuplicateTensor {
                path: path.into(),
                tensor: key,
                detail: " in the header".into(),
            })
        }
        Err(p) => return Err(bad(p.to_string())),
    }
    let st = SafeTensors::deserialize(&map).map_err(|e| bad(e.to_string()))?;
    let data_start = 8 + n;
    let (_, meta) = SafeTensors::read_metadata(&map).map_err(|e| bad(e.to_string()))?;
    let mut tensors = Vec::with_capacity(st.len());
    for name in meta.offset_keys() {
        let Some(info) = meta.info(&name) else {
            continue;
        };
        let (start, end) = info.data_offsets;
        tensors.push(SourceTensor {
            name,
            dtype: info.dtype,
            shape: info.shape.clone(),
            shard: 0,
            offset: data_start + start as u64,
            len: (end - start) as u64,
        });
    }
    let metadata = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    drop(st);
    drop(map);
    Ok(ReadShard {
        shard: Shard {
            path: path.into(),
            file,
            len,
        },
        tensors,
        metadata,
    })
}
