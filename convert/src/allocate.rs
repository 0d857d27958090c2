//! `--target-bpw`: choose one encoding per tensor to minimize total error under a bit budget.
//!
//! The problem: tensor `i` has `n_i` weights; encoding `e` costs `bits_i(e)` bits for the whole
//! tensor (padding included) and leaves a relative mean squared error `r_i(e)` (measured by
//! quantizing a sample of its rows). Choose `e_i` to minimize `sum n_i * r_i(e_i)` subject to
//! `sum bits_i(e_i) <= target * sum n_i`. Weighting relative error by element count makes every
//! weight count the same whatever the scale of its tensor; absolute error would pour bits into
//! whichever tensors happen to have the largest values.
//!
//! This is a multiple-choice knapsack. We solve its Lagrangian relaxation exactly by the greedy
//! walk on convex hulls: every tensor starts at its cheapest candidate; each tensor's candidates
//! are reduced to its lower convex hull in the (bits, error) plane (a point above the hull is
//! never the best choice for any price per bit); then, repeatedly, the upgrade with the largest
//! error saved per bit spent is taken if it fits the remaining budget. At every step the solution
//! is optimal for the bits it spends (the Lagrangian optimum for the current slope); the last
//! partial step is where it can fall short of the true integer optimum, by at most one upgrade.
//! Unlike fixed recipes (llama.cpp's Q4_K_M gives chosen tensor kinds more bits by name), the
//! choice follows measured error, so tensors that quantize badly get the bits.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One candidate for one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Index into the caller's list of encodings.
    pub choice: usize,
    /// Bits the whole tensor takes at this encoding.
    pub bits: f64,
    /// Weighted error: elements * relative MSE.
    pub error: f64,
}

/// Why no allocation exists.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    /// The lowest average bpw reachable with the candidates.
    pub min_bpw: f64,
}

/// For each tensor (`candidates[i]`, non-empty), the index (into `candidates[i]`) of its choice.
/// `elements[i]` weighs the average. Fails if even the cheapest choices exceed the budget.
pub fn allocate(
    candidates: &[Vec<Candidate>],
    elements: &[u64],
    target_bpw: f64,
) -> Result<Vec<usize>, OverBudget> {
    let total_elems: f64 = elements.iter().map(|&n| n as f64).sum();
    let budget = target_bpw * total_elems;
    let hulls: Vec<Vec<usize>> = candidates.iter().map(|c| lower_hull(c)).collect();
    // Position of each tensor along its hull.
    let mut pos = vec![0usize; candidates.len()];
    let mut spent: f64 = hulls
        .iter()
        .zip(candidates)
        .map(|(h, c)| c[h[0]].bits)
        .sum();
    if spent > budget * (1.0 + 1e-12) {
        return Err(OverBudget {
            min_bpw: spent / total_elems.max(1.0),
        });
    }
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Step>, i: usize, p: usize| {
        if let (Some(&a), Some(&b)) = (hulls[i].get(p), hulls[i].get(p + 1)) {
            let (a, b) = (candidates[i][a], candidates[i][b]);
            heap.push(Step {
                slope: (a.error - b.error) / (b.bits - a.bits),
                tensor: i,
                extra_bits: b.bits - a.bits,
            });
        }
    };
    for i in 0..candidates.len() {
        push(&mut heap, i, 0);
    }
    while let Some(step) = heap.pop() {
        if spent + step.extra_bits <= budget * (1.0 + 1e-12) {
            spent += step.extra_bits;
            pos[step.tensor] += 1;
            push(&mut heap, step.tensor, pos[step.tensor]);
        }
        // An upgrade that does not fit is dropped for good: later steps on the same hull cost
        // even more per unit of error saved, and taking them would skip this one.
    }
    Ok(pos.iter().zip(&hulls).map(|(&p, h)| h[p]).collect())
}

/// Indices of the lower convex hull of the points, by increasing bits and strictly decreasing
/// error. Candidates with no less error than a cheaper one are dropped.
fn lower_hull(c: &[Candidate]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..c.len()).collect();
    idx.sort_by(|&a, &b| {
        c[a].bits
            .total_cmp(&c[b].bits)
            .then(c[a].error.total_cmp(&c[b].error))
    });
    let mut hull: Vec<usize> = Vec::new();
    for i in idx {
        if let Some(&last) = hull.last() {
            if c[i].error >= c[last].error || c[i].bits == c[last].bits {
                continue;
            }
        }
        // Pop while the last point lies on or above the segment from the one before it to `i`.
        while hull.len() >= 2 {
            let (a, b) = (c[hull[hull.len() - 2]], c[hull[hull.len() - 1]]);
            let p = c[i];
            let cross =
                (b.bits - a.bits) * (p.error - a.error) - (b.error - a.error) * (p.bits - a.bits);
            if cross <= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(i);
    }
    hull
}

#[derive(Debug)]
struct Step {
    slope: f64,
    tensor: usize,
    extra_bits: f64,
}
impl PartialEq for Step {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Step {}
impl PartialOrd for Step {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Step {
    /// Largest slope first; ties go to the lower tensor index, so the result is deterministic.
    fn cmp(&self, o: &Self) -> Ordering {
        self.slope
            .total_cmp(&o.slope)
            .then(o.tensor.cmp(&self.tensor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(choice: usize, bits: f64, error: f64) -> Candidate {
        Candidate {
            choice,
            bits,
            error,
        }
    }

    /// Exhaustive search, for checking.
    fn brute(c: &[Vec<Candidate>], budget: f64) -> f64 {
        let mut best = f64::INFINITY;
        let mut idx = vec![0usize; c.len()];
        loop {
            let bits: f64 = idx.iter().zip(c).map(|(&j, v)| v[j].bits).sum();
            let err: f64 = idx.iter().zip(c).map(|(&j, v)| v[j].error).sum();
            if bits <= budget && err < best {
                best = err;
            }
            let mut k = 0;
            loop {
                if k == c.len() {
                    return best;
                }
                idx[k] += 1;
                if idx[k] < c[k].len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }

    #[test]
    fn hull_drops_dominated_and_concave_points() {
        let c = vec![
            cand(0, 2.0, 10.0),
            cand(1, 4.0, 9.5),
            cand(2, 6.0, 1.0),
            cand(3, 8.0, 2.0),
        ];
        assert_eq!(lower_hull(&c), vec![0, 2]);
    }

    #[test]
    fn spends_bits_where_error_falls_most() {
        // Tensor 0 gains a lot from more bits, tensor 1 little; equal sizes.
        let t0 = vec![cand(0, 400.0, 100.0), cand(1, 800.0, 10.0)];
        let t1 = vec![cand(0, 400.0, 5.0), cand(1, 800.0, 4.0)];
        let got = allocate(&[t0, t1], &[100, 100], 6.0).unwrap();
        assert_eq!(got, vec![1, 0]);
        let e = allocate(&[vec![cand(0, 400.0, 1.0)]], &[100], 3.0).unwrap_err();
        assert_eq!(e.min_bpw, 4.0);
    }

    #[test]
    fn near_optimal_against_brute_force() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200 {
            let n = 4;
            let elems: Vec<u64> = (0..n).map(|_| 100 + (rnd() * 900.0) as u64).collect();
            let bpws = [2.25, 3.25, 4.25, 5.25, 8.5];
            let c: Vec<Vec<Candidate>> = elems
                .iter()
                .map(|&e| {
                    let scale = 0.2 + rnd() * 5.0;
                    bpws.iter()
                        .enumerate()
                        .map(|(j, &b)| {
                            cand(
                                j,
                                b * e as f64,
                                e as f64 * scale * 4f64.powf(-b) * (0.8 + 0.4 * rnd()),
                            )
                        })
                        .collect()
                })
                .collect();
            let target = 2.5 + rnd() * 5.0;
            let total: f64 = elems.iter().map(|&e| e as f64).sum();
            let pick = allocate(&c, &elems, target).unwrap();
            let bits: f64 = pick.iter().zip(&c).map(|(&j, v)| v[j].bits).sum();
            let err: f64 = pick.iter().zip(&c).map(|(&j, v)| v[j].error).sum();
            assert!(bits <= target * total * (1.0 + 1e-9));
            let best = brute(&c, target * total);
            // Greedy on hulls is optimal at hull points; allow the one-partial-step gap.
            let worst_step: f64 = c.iter().map(|v| v[0].error).fold(0.0, f64::max);
            assert!(err <= best + worst_step, "err {err} best {best}");
        }
    }
}
