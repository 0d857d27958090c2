//! `tessera-reference`: the scalar definition of every encoding and of matmul arithmetic.
