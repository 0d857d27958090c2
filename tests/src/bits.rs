//! Comparing floats as the arithmetic contract does: bit for bit, with every NaN equal to every
//! other NaN (the contract fixes values, not NaN payloads).

/// The index of the first element where `a` and `b` differ, or `None` when they are the same
/// bits (any NaN matching any NaN). Different lengths differ at the shorter length.
pub fn first_difference(a: &[f32], b: &[f32]) -> Option<usize> {
    if a.len() != b.len() {
        return Some(a.len().min(b.len()));
    }
    a.iter()
        .zip(b)
        .position(|(x, y)| !(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())))
}

/// Panics with `what`, the index and both values when `a` and `b` are not the same bits.
pub fn assert_same_bits(what: &str, a: &[f32], b: &[f32]) {
    if let Some(i) = first_difference(a, b) {
        panic!(
            "{what}: differ at {i} (lengths {} and {}): {:?} ({:#010x}) vs {:?} ({:#010x})",
            a.len(),
            b.len(),
            a.get(i),
            a.get(i).map_or(0, |v| v.to_bits()),
            b.get(i),
            b.get(i).map_or(0, |v| v.to_bits()),
        );
    }
}

/// `f32`s from little-endian bytes (a trailing partial value is dropped).
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
