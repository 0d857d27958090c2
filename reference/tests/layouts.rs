//! Blocks written byte by byte from SPEC.md decode to the values worked out by hand.

use tessera_reference::{dequantize, row_int_groups, Encoding, MxType, Weights};

fn decode(encoding: Encoding, k: usize, bytes: &[u8]) -> Vec<f32> {
    dequantize(&Weights {
        encoding,
        rows: 1,
        k,
        bytes,
        sparse: false,
    })
    .unwrap()
}

#[test]
fn q4_block() {
    // d = 0.5 (f16 0x3800); u[i] = i % 16, so byte i = u[i] | u[i + 16] << 4 = i * 0x11.
    let mut b = vec![0x00, 0x38];
    b.extend((0..16u8).map(|i| i * 0x11));
    let v = decode(Encoding::IntSym { bits: 4 }, 32, &b);
    for (i, &x) in v.iter().enumerate() {
        assert_eq!(x, 0.5 * ((i % 16) as f32 - 8.0), "element {i}");
    }
}

#[test]
fn q3_block_with_padding() {
    // k = 3: one group, elements 3..32 are padding. d = -1 (f16 0xBC00), o = 4.
    // u = [7, 0, 5]: 2-bit plane byte 0 = 3 | 0 << 2 ... no: byte i holds u[i + 8t] at bits 2t.
    // u[0] low bits 3 -> byte 0, u[1] low 0 -> byte 1, u[2] low 1 -> byte 2. 1-bit plane: bits 0
    // and 2 set (u[0] = 7 and u[2] = 5 have bit 2).
    let mut b = vec![0x00, 0xBC];
    b.extend([3, 0, 1, 0, 0, 0, 0, 0]);
    b.extend([0b101, 0, 0, 0]);
    let v = decode(Encoding::IntSym { bits: 3 }, 3, &b);
    assert_eq!(v, vec![-3.0, 4.0, -1.0]);
}

#[test]
fn q4a_block() {
    // s = 0.25 (0x3400), m = -1 (0xBC00); group 0 codes all 3, group 1 codes all 15.
    let mut b = vec![0x00, 0x34, 0x00, 0xBC];
    b.extend([0x33; 16]);
    b.extend([0xFF; 16]);
    let v = decode(Encoding::IntAffine { bits: 4 }, 64, &b);
    assert!(v[..32].iter().all(|&x| x == -0.25));
    assert!(v[32..].iter().all(|&x| x == 2.75));
}

#[test]
fn q2k_short_super_block() {
    // k = 40: one short super-block of 2 groups: d = 0.5 (0x3800), then 2 six-bit sub-scales in
    // ceil(12 / 8) = 2 bytes, then 2 * 8 plane bytes. Sub-scales c = [3, -2] stored as
    // c' = c + 32 = [35, 30] at bits 0..6 and 6..12: 35 | 30 << 6 = 0x07A3.
    let mut b = vec![0x00, 0x38, 0xA3, 0x07];
    // Group 0: u = 3 everywhere (q = 1): byte = 0b11111111. Group 1: u = 0 (q = -2).
    b.extend([0xFF; 8]);
    b.extend([0x00; 8]);
    let e = Encoding::IntSuper { bits: 2 };
    assert_eq!(e.row_bytes(40), Some(b.len() as u64));
    let v = decode(e, 40, &b);
    assert!(v[..32].iter().all(|&x| x == 1.5), "{:?}", &v[..4]); // 0.5 * 3 * 1
    assert!(v[32..].iter().all(|&x| x == 2.0)); // 0.5 * (-2 * -2)
}

#[test]
fn q4k_full_super_block_sub_scales() {
    // A full super-block's 8 sub-scales fill the 6-byte field: c' = [0, 63, 32, 37, 31, 49, 12,
    // 35] (c = c' - 32) as one little-endian 48-bit string, 6 bits each.
    let stored = [0u64, 63, 32, 37, 31, 49, 12, 35];
    let field: u64 = stored.iter().enumerate().map(|(g, &v)| v << (6 * g)).sum();
    let mut b = vec![0x00, 0x3C]; // d = 1
    b.extend(&field.to_le_bytes()[..6]);
    // Every code u = 9 (q = 1): bytes 0x99.
    b.extend([0x99; 8 * 16]);
    let e = Encoding::IntSuper { bits: 4 };
    assert_eq!(b.len(), e.block_bytes());
    let v = decode(e, 256, &b);
    for (g, &c) in stored.iter().enumerate() {
        assert_eq!(v[32 * g], c as f32 - 32.0, "group {g}");
    }
}

#[test]
fn bfp_block() {
    // e = 126 (scale 0.5), bfp4 codes u[i] = i % 16 -> (u - 8) * 0.5.
    let mut b = vec![126];
    b.extend((0..16u8).map(|i| i * 0x11));
    let v = decode(Encoding::Bfp { bits: 4 }, 32, &b);
    assert_eq!(v[0], -4.0);
    assert_eq!(v[15], 3.5);
    // e = 0xFF is NaN.
    b[0] = 0xFF;
    assert!(decode(Encoding::Bfp { bits: 4 }, 32, &b)
        .iter()
        .all(|x| x.is_nan()));
    // e = 0 is 2^-127, an f32 subnormal, decoded exactly: code 9 -> 2^-127.
    b[0] = 0;
    assert_eq!(
        decode(Encoding::Bfp { bits: 4 }, 32, &b)[9].to_bits(),
        0x0040_0000
    );
}

#[test]
fn mx_blocks() {
    // MXFP4: e = 128 (scale 2), element 0 = code 7 (6.0), element 16 = code 0xF (-6.0).
    let mut b = vec![128];
    b.extend([0u8; 16]);
    b[1] = 0xF7;
    let v = decode(Encoding::Mx(MxType::Fp4E2M1), 32, &b);
    assert_eq!((v[0], v[16], v[1]), (12.0, -12.0, 0.0));
    // MXINT8: e = 127, byte 64 -> 1.0, byte 0x81 -> -127/64.
    let mut b = vec![127, 64, 0x81];
    b.extend([0u8; 30]);
    let v = decode(Encoding::Mx(MxType::Int8), 32, &b);
    assert_eq!((v[0], v[1]), (1.0, -127.0 / 64.0));
    // MXFP8 E4M3: e = 130 (8), byte 0x7E = 448 -> 3584; 0x7F NaN.
    let mut b = vec![130, 0x7E, 0x7F];
    b.extend([0u8; 30]);
    let v = decode(Encoding::Mx(MxType::Fp8E4M3), 32, &b);
    assert_eq!(v[0], 3584.0);
    assert!(v[1].is_nan());
    // MXFP6 E3M2: 6-bit code 0b0_111_11 (28) for element 0: low nibble 0xF in byte 0 of the
    // 4-bit plane, top 2 bits 0b01 in byte 0 bits 0..2 of the 2-bit plane. e = 127.
    let mut b = vec![127u8; 1];
    b.extend([0u8; 24]);
    b[1] = 0x0F;
    b[1 + 16] = 0b01;
    let v = decode(Encoding::Mx(MxType::Fp6E3M2), 32, &b);
    assert_eq!(v[0], 28.0);
    // E8M0 0xFF is NaN for every MX type.
    b[0] = 0xFF;
    assert!(decode(Encoding::Mx(MxType::Fp6E3M2), 32, &b)[0].is_nan());
}

#[test]
fn raw_types() {
    let v = decode(
        Encoding::Raw(tessera_reference::RawType::BF16),
        2,
        &[0x80, 0x3F, 0x00, 0xC0],
    );
    assert_eq!(v, vec![1.0, -2.0]);
    let v = decode(
        Encoding::Raw(tessera_reference::RawType::F8E4M3),
        2,
        &[0x38, 0xFE],
    );
    assert_eq!(v, vec![1.0, -448.0]);
}

#[test]
fn q4ka_short_super_block() {
    // k = 40: one short super-block of 2 groups, 16 + 2 * 16 bytes. d = 0.5 (0x3800), dmin = 0.25
    // (0x3400). Sub-scales sc = [35, 2, 0 ..]: low nibbles 3, 2; top bits of sc[0] (2) at bits
    // 0..2. Sub-mins mn = [4, 17, 0 ..]: low nibbles 4, 1; top bits of mn[1] (1) at bits 2..4.
    let mut b = vec![0x00, 0x38, 0x00, 0x34];
    b.extend([0x03, 0x02, 0x00, 0x00, 0x02, 0x00]);
    b.extend([0x04, 0x01, 0x00, 0x00, 0x04, 0x00]);
    // Group 0: u = 15 everywhere. Group 1: u = 0.
    b.extend([0xFF; 16]);
    b.extend([0x00; 16]);
    let e = Encoding::IntSuperAffine { bits: 4 };
    assert_eq!(e.row_bytes(40), Some(b.len() as u64));
    let v = decode(e, 40, &b);
    assert!(v[..32].iter().all(|&x| x == 261.5), "{:?}", &v[..4]); // 0.5 * (35 * 15) - 0.25 * 4
    assert!(v[32..].iter().all(|&x| x == -4.25), "{:?}", &v[32..]); // 0 - 0.25 * 17
                                                                    // The integer view: q = u, sub-scale sc[g], min -(dmin * mn[g]).
    let w = Weights {
        encoding: e,
        rows: 1,
        k: 40,
        bytes: &b,
        sparse: false,
    };
    let groups = row_int_groups(&w, 0).unwrap();
    let g1 = groups[1].unwrap();
    assert_eq!((g1.scale, g1.sub_scale, g1.min), (0.5, 2, Some(-4.25)));
    assert_eq!(g1.q[0], 0);
    assert_eq!(groups[0].unwrap().q[5], 15);
    // The products d * (sc * u) and dmin * mn are exact; the sum is rounded once. d = 1 + 2^-10,
    // dmin = 2^-20: 525 * d - 4 * 2^-20 is not an f32 and rounds to nearest.
    let mut c = b.clone();
    c[..2].copy_from_slice(&half::f16::from_f32(1.0 + 1.0 / 1024.0).to_le_bytes());
    c[2..4].copy_from_slice(&half::f16::from_f32(2f32.powi(-20)).to_le_bytes());
    let v = decode(e, 40, &c);
    let exact = (1.0 + 1.0 / 1024.0) * 525.0 - 4.0 * 2f64.powi(-20);
    assert_ne!(exact, exact as f32 as f64);
    assert_eq!(v[0], exact as f32);
}

#[test]
fn q2kh_spec_example() {
    // SPEC.md 15.4a: K = 32, one short super-block of one group, 3 + 10 bytes. d = 0.5 (0x3800),
    // min multiplier k = 3 (stored 2); codes u[i] = i mod 4; sc = [2, 15], mn = [1, 0].
    let mut b = vec![0x00, 0x38, 0x02];
    b.extend([0x00, 0x55, 0xAA, 0xFF, 0x00, 0x55, 0xAA, 0xFF]);
    b.extend([0xF2, 0x01]);
    let e = Encoding::IntSuperHalf { bits: 2 };
    assert_eq!(e.row_bytes(32), Some(b.len() as u64));
    let v = decode(e, 32, &b);
    for (i, &x) in v.iter().enumerate() {
        let q = if i < 16 {
            2 * (i as i32 % 4) - 3
        } else {
            15 * (i as i32 % 4)
        };
        assert_eq!(x, 0.5 * q as f32, "element {i}");
    }
    assert_eq!(&v[..4], &[-1.5, -0.5, 0.5, 1.5]);
    assert_eq!(&v[16..20], &[0.0, 7.5, 15.0, 22.5]);
    // The integer view: one integer per element, scale d, no sub-scale or min.
    let w = Weights {
        encoding: e,
        rows: 1,
        k: 32,
        bytes: &b,
        sparse: false,
    };
    let g = row_int_groups(&w, 0).unwrap()[0].unwrap();
    assert_eq!((g.scale, g.sub_scale, g.min), (0.5, 1, None));
    assert_eq!((g.q[0], g.q[3], g.q[19]), (-3, 3, 45));
    // Reserved bits of the k byte are ignored.
    b[2] |= 0xF8;
    assert_eq!(decode(e, 32, &b), v);
}
