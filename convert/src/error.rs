//! The one error type of the command: every variant names the file and, where there is one, the
//! tensor, so that `tessera` can print a single line and exit non-zero.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not found")]
    NotFound { path: PathBuf },
    #[error("{path}: a directory without model.safetensors.index.json or model.safetensors")]
    NoIndex { path: PathBuf },
    #[error("{path}: bad safetensors header: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("{path}: bad index: {reason}")]
    BadIndex { path: PathBuf, reason: String },
    #[error("{path}: shard {shard:?} named in the index (for tensor {tensor:?}) is missing")]
    ShardMissing {
        path: PathBuf,
        shard: String,
        tensor: String,
    },
    #[error("{path}: tensor {tensor:?} is listed twice{detail}")]
    DuplicateTensor {
        path: PathBuf,
        tensor: String,
        detail: String,
    },
    #[error("{path}: tensor {tensor:?} is listed in the index but absent from shard {shard:?}")]
    TensorAbsent {
        path: PathBuf,
        tensor: String,
        shard: String,
    },
    #[error("{path}: tensor {tensor:?} is in the shard but not listed in the index")]
    TensorUnlisted { path: PathBuf, tensor: String },
    #[error("{path}: tensor {tensor:?}: {reason}")]
    BadTensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("{path}: bad recipe: {reason}")]
    BadRecipe { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("{path}: tensor {tensor:?}: {reason}")]
    Codec {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: writing tensor {tensor:?}: {reason}; nothing was written")]
    Write {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("{path}: interrupted while writing tensor {tensor:?}; nothing was written")]
    Interrupted { path: PathBuf, tensor: String },
    #[error("{path}: verification failed: {reason}")]
    Verify { path: PathBuf, reason: String },
}

pub type Result<T, E = ConvertError> = std::result::Result<T, E>;

/// Attaches a path to an `io::Error` (`NotFound` becomes its own, shorter message).
pub fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ConvertError {
    let path = path.into();
    move |source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ConvertError::NotFound { path }
        } else {
            ConvertError::Io { path, source }
        }
    }
}
