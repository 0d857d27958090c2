//! The crash-safe streaming writer.
//!
//! Bytes go to a temporary file in the target's directory: the header (once the alignment is
//! fixed), then each tensor as it is written (hashed on the way), then the directory and the footer.
//! `finish` fsyncs the file, renames it over the target and fsyncs the directory. Until that rename
//! nothing exists at the target path; dropping the writer (or any error) deletes the temporary file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::error::{FormatError, Result};
use crate::layout::*;
use crate::meta::{check_reserved_key, encode_str, MetaValue};
use crate::tensor::{geometry, sparse_len, Geometry, TensorInfo};
use crate::Encoding;

/// Where the bytes go. Tests add a sink that fails after a byte budget, to check that a failed
/// write leaves nothing behind.
enum Sink {
    File(File),
    Memory(Vec<u8>),
    #[cfg(test)]
    FailAfter {
        file: File,
        budget: usize,
    },
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Memory(v) => v.write(buf),
            #[cfg(test)]
            Sink::FailAfter { file, budget } => {
                if buf.len() > *budget {
                    return Err(std::io::Error::other("injected write failure"));
                }
                *budget -= buf.len();
                file.write(buf)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Memory(_) => Ok(()),
            #[cfg(test)]
            Sink::FailAfter { file, .. } => file.flush(),
        }
    }
}

impl Sink {
    fn file(&self) -> Option<&File> {
        match self {
            Sink::File(f) => Some(f),
            Sink::Memory(_) => None,
            #[cfg(test)]
            Sink::FailAfter { file, .. } => Some(file),
        }
    }
}

/// Where a finished file goes: renamed from a temporary file to the target, or kept in memory.
enum Destination {
    File {
        /// Deleted on drop unless persisted by `finish`.
        temp: tempfile::TempPath,
        target: PathBuf,
    },
    Memory,
}

/// Writes a `.tsr` file, one tensor at a time.
pub struct Writer {
    out: BufWriter<Sink>,
    dest: Destination,
    /// Bytes written so far (the offset of the next byte).
    pos: u64,
    alignment: u64,
    header_written: bool,
    metadata: Vec<(String, MetaValue)>,
    keys: HashSet<String>,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
    /// Set when bytes may be missing or extra (an I/O error, an unfinished tensor); `finish`
    /// then refuses.
    poisoned: bool,
}

impl Writer {
    /// Starts a file that will appear at `path` when [`Writer::finish`] succeeds.
    pub fn create(path: &Path) -> Result<Self> {
        let dir = parent_dir(path);
        let io = |source| FormatError::Io {
            path: dir.to_owned(),
            source,
        };
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", file_name.unwrap_or_default()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io)?;
        let (file, temp) = temp.into_parts();
        let dest = Destination::File {
            temp,
            target: path.to_owned(),
        };
        Ok(Self::with_sink(Sink::File(file), dest))
    }

    /// A writer that builds the file in memory; end it with [`Writer::finish_to_vec`]. For tests,
    /// fuzzing seeds and small files.
    pub fn in_memory() -> Self {
        Self::with_sink(Sink::Memory(Vec::new()), Destination::Memory)
    }

    fn with_sink(sink: Sink, dest: Destination) -> Self {
        Writer {
            out: BufWriter::with_capacity(1 << 20, sink),
            dest,
            pos: 0,
            alignment: DEFAULT_ALIGNMENT,
            header_written: false,
            metadata: Vec::new(),
            keys: HashSet::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
            poisoned: false,
        }
    }

    /// Sets the data alignment: a power of two in 64..=2 MiB, before the first tensor.
    pub fn set_alignment(&mut self, alignment: u64) -> Result<()> {
        if self.header_written {
            return Err(FormatError::AlignmentLocked);
        }
        if !alignment_is_valid(alignment) {
            return Err(FormatError::InvalidAlignment {
                alignment,
                max: MAX_ALIGNMENT,
            });
        }
        self.alignment = alignment;
        Ok(())
    }

    /// Adds a metadata entry; keys must be unique. Metadata is written with the directory, so
    /// this may be called at any time before `finish`.
    pub fn set_metadata(&mut self, key: &str, value: MetaValue) -> Result<()> {
        check_name("metadata key", key)?;
        if self.keys.contains(key) {
            return Err(FormatError::DuplicateKey {
                key: key.to_owned(),
                offset: self.pos,
            });
        }
        if self.metadata.len() as u64 >= MAX_METADATA_ENTRIES {
            return Err(FormatError::TooMany {
                what: "metadata entries",
                count: self.metadata.len() as u64 + 1,
                max: MAX_METADATA_ENTRIES,
            });
        }
        value.check_limits()?;
        check_reserved_key(key, &value, 0)?;
        self.keys.insert(key.to_owned());
        self.metadata.push((key.to_owned(), value));
        Ok(())
    }

    /// Writes a whole tensor. `bytes` must be exactly what `shape` and `encoding` imply (for a
    /// sparse tensor: the bitmap, then the present blocks).
    pub fn add_tensor(
        &mut self,
        name: &str,
        shape: &[u64],
        encoding: Encoding,
        sparse: bool,
        bytes: &[u8],
    ) -> Result<()> {
        let mut t = self.begin_tensor(name, shape, encoding, sparse)?;
        t.write(bytes)?;
        t.finish()
    }

    /// Starts a tensor whose bytes are then given in chunks with [`TensorWriter::write`].
    pub fn begin_tensor(
        &mut self,
        name: &str,
        shape: &[u64],
        encoding: Encoding,
        sparse: bool,
    ) -> Result<TensorWriter<'_>> {
        if self.poisoned {
            return Err(FormatError::WriterPoisoned);
        }
        check_name("tensor name", name)?;
        if self.names.contains(name) {
            return Err(FormatError::DuplicateTensor {
                tensor: name.to_owned(),
                offset: self.pos,
            });
        }
        if self.tensors.len() as u64 >= MAX_TENSORS {
            return Err(FormatError::TooMany {
                what: "tensors",
                count: self.tensors.len() as u64 + 1,
                max: MAX_TENSORS,
            });
        }
        if sparse && !encoding.is_blocked() {
            return Err(FormatError::SparseRaw {
                tensor: name.to_owned(),
                offset: self.pos,
                encoding,
            });
        }
        let geometry = geometry(name, self.pos, shape, encoding)?;
        self.write_header()?;
        let offset = align_up(self.pos, self.alignment).expect("file offsets stay far below u64");
        self.write_zeros(offset - self.pos)?;
        Ok(TensorWriter {
            info: TensorInfo {
                name: name.to_owned(),
                shape: shape.to_vec(),
                encoding,
                sparse,
                offset,
                length: 0,
                xxh3: 0,
            },
            geometry,
            expected: (!sparse).then_some(geometry.dense_len),
            bitmap: Vec::new(),
            hasher: Xxh3::new(),
            written: 0,
            finished: false,
            writer: self,
        })
    }

    /// Writes the directory and footer, makes the file durable and moves it to the target path.
    pub fn finish(mut self) -> Result<()> {
        if !matches!(self.dest, Destination::File { .. }) {
            return Err(FormatError::WrongFinish {
                expected: "finish_to_vec",
            });
        }
        self.seal()?;
        let Writer { out, dest, .. } = self;
        let Destination::File { temp, target } = dest else {
            unreachable!("checked above")
        };
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| FormatError::Io { path, source }
        };
        let sink = out.into_inner().map_err(|e| io(&temp)(e.into_error()))?;
        if let Some(file) = sink.file() {
            file.sync_all().map_err(io(&temp))?;
        }
        drop(sink);
        temp.persist(&target).map_err(|e| io(&target)(e.error))?;
        let dir = parent_dir(&target);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(())
    }

    /// Ends an [`Writer::in_memory`] writer and returns the file's bytes.
    pub fn finish_to_vec(mut self) -> Result<Vec<u8>> {
        if !matches!(self.dest, Destination::Memory) {
            return Err(FormatError::WrongFinish { expected: "finish" });
        }
        self.seal()?;
        match self.out.into_inner() {
            Ok(Sink::Memory(v)) => Ok(v),
            _ => unreachable!("memory sinks neither fail nor change kind"),
        }
    }

    /// Writes the header (if no tensor did), the directory and the footer.
    fn seal(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(FormatError::WriterPoisoned);
        }
        self.write_header()?;
        let directory_offset = self.pos;
        let directory = self.directory_bytes();
        let header = Header::new(self.alignment).to_bytes();
        let footer = Footer {
            directory_offset,
            directory_length: directory.len() as u64,
            checksum: directory_checksum(&header, &directory, directory_offset),
        };
        self.write_all(&directory)?;
        self.write_all(&footer.to_bytes())
    }

    fn directory_bytes(&self) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            encode_str(key, &mut d);
            value.encode(&mut d);
        }
        d.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        for t in &self.tensors {
            t.encode(&mut d);
        }
        d
    }

    fn write_header(&mut self) -> Result<()> {
        if !self.header_written {
            self.write_all(&Header::new(self.alignment).to_bytes())?;
            self.header_written = true;
        }
        Ok(())
    }

    fn write_zeros(&mut self, n: u64) -> Result<()> {
        const ZEROS: [u8; 4096] = [0; 4096];
        let mut left = n;
        while left > 0 {
            let k = left.min(ZEROS.len() as u64);
            self.write_all(&ZEROS[..k as usize])?;
            left -= k;
        }
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        if self.poisoned {
            return Err(FormatError::WriterPoisoned);
        }
        if let Err(source) = self.out.write_all(bytes) {
            self.poisoned = true;
            let path = match &self.dest {
                Destination::File { temp, .. } => temp.to_path_buf(),
                Destination::Memory => PathBuf::from("<memory>"),
            };
            return Err(FormatError::Io { path, source });
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }
}

/// One tensor being streamed. Call [`TensorWriter::finish`]; dropping it unfinished poisons the
/// writer (the file would be missing bytes).
pub struct TensorWriter<'w> {
    writer: &'w mut Writer,
    info: TensorInfo,
    geometry: Geometry,
    /// Total bytes the tensor must have; for a sparse tensor known once its bitmap is complete.
    expected: Option<u64>,
    /// A sparse tensor's bitmap, collected as it streams by (it grows with the bytes given, never
    /// ahead of them).
    bitmap: Vec<u8>,
    hasher: Xxh3,
    written: u64,
    finished: bool,
}

impl TensorWriter<'_> {
    /// Appends the next chunk of the tensor's bytes.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let after = self.written + chunk.len() as u64;
        if self.info.sparse && self.expected.is_none() {
            let want = (self.geometry.bitmap_len - self.written).min(chunk.len() as u64);
            self.bitmap.extend_from_slice(&chunk[..want as usize]);
            if self.bitmap.len() as u64 == self.geometry.bitmap_len {
                let len = sparse_len(
                    &self.info.shape,
                    self.info.encoding,
                    &self.geometry,
                    &self.bitmap,
                )
                .map_err(|problem| FormatError::BadSparseBitmap {
                    tensor: self.info.name.clone(),
                    offset: self.info.offset,
                    problem,
                })?;
                self.expected = Some(len);
            }
        }
        if let Some(expected) = self.expected {
            if after > expected {
                return Err(self.length_error(after));
            }
        }
        self.writer.write_all(chunk)?;
        self.hasher.update(chunk);
        self.written = after;
        Ok(())
    }

    /// Checks the length and records the directory entry.
    pub fn finish(mut self) -> Result<()> {
        if self.expected != Some(self.written) {
            return Err(self.length_error(self.written));
        }
        self.finished = true;
        let mut info = self.info.clone();
        info.length = self.written;
        info.xxh3 = self.hasher.digest();
        self.writer.names.insert(info.name.clone());
        self.writer.tensors.push(info);
        Ok(())
    }

    fn length_error(&self, actual: u64) -> FormatError {
        FormatError::LengthMismatch {
            tensor: self.info.name.clone(),
            offset: self.info.offset,
            expected: self.expected.unwrap_or(self.geometry.bitmap_len),
            actual,
        }
    }
}

impl Drop for TensorWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.writer.poisoned = true;
        }
    }
}

fn check_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(FormatError::EmptyName { what, offset: 0 });
    }
    if name.len() as u64 > MAX_NAME_LEN {
        return Err(FormatError::StringTooLong {
            what,
            offset: 0,
            len: name.len() as u64,
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawType;

    fn failing_writer(dir: &Path, target: &Path, budget: usize) -> Writer {
        let (file, temp) = tempfile::Builder::new()
            .tempfile_in(dir)
            .unwrap()
            .into_parts();
        let dest = Destination::File {
            temp,
            target: target.to_owned(),
        };
        Writer::with_sink(Sink::FailAfter { file, budget }, dest)
    }

    #[test]
    #[cfg_attr(miri, ignore)] // files
    fn injected_write_failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.tsr");
        // A budget that fails while the 4 MiB tensor flows through the 1 MiB buffer.
        let mut w = failing_writer(dir.path(), &target, 100_000);
        w.set_metadata("general.name", MetaValue::Str("x".into()))
            .unwrap();
        let big = vec![7u8; 4 << 20];
        let err = w
            .add_tensor("t", &[1 << 20], Encoding::Raw(RawType::F32), false, &big)
            .unwrap_err();
        assert!(matches!(err, FormatError::Io { .. }), "{err}");
        assert!(matches!(w.finish(), Err(FormatError::WriterPoisoned)));
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // files
    fn failure_at_finish_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.tsr");
        // Enough for header and tensor, not for the final flush of directory and footer.
        let mut w = failing_writer(dir.path(), &target, 64 + 64);
        w.add_tensor("t", &[16], Encoding::Raw(RawType::F32), false, &[0; 64])
            .unwrap();
        let err = w.finish().unwrap_err();
        assert!(matches!(err, FormatError::Io { .. }), "{err}");
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
