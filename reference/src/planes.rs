//! Bit planes: how the 32 `b`-bit codes of one group are stored (SPEC.md, "Bit planes").
//!
//! A code is split into a 4-, 2- and 1-bit part (or one 8-bit part), low bits first, and each part
//! is stored in its own plane. Every plane unpacks to 32 byte lanes with a broadcast, a shift and a
//! mask, and no code straddles a byte.

use tessera_format::GROUP;

/// Bytes the planes of one group of `bits`-bit codes take: `4 * bits`.
pub const fn group_bytes(bits: u32) -> usize {
    4 * bits as usize
}

/// The plane widths of `bits`-bit codes, in storage order (low bits first).
pub const fn widths(bits: u32) -> &'static [u32] {
    match bits {
        1 => &[1],
        2 => &[2],
        3 => &[2, 1],
        4 => &[4],
        5 => &[4, 1],
        6 => &[4, 2],
        7 => &[4, 2, 1],
        _ => &[8],
    }
}

/// Packs 32 codes (each `< 2^bits`) into `out`, which is `group_bytes(bits)` long.
pub fn pack(bits: u32, codes: &[u8; GROUP], out: &mut [u8]) {
    debug_assert_eq!(out.len(), group_bytes(bits));
    let mut at = 0;
    let mut shift = 0;
    for &w in widths(bits) {
        let plane = &mut out[at..at + plane_bytes(w)];
        plane.fill(0);
        let mask = ((1u32 << w) - 1) as u8;
        for (i, &c) in codes.iter().enumerate() {
            let part = (c >> shift) & mask;
            match w {
                8 => plane[i] = part,
                4 => plane[i % 16] |= part << (4 * (i / 16)),
                2 => plane[i % 8] |= part << (2 * (i / 8)),
                _ => plane[i / 8] |= part << (i % 8),
            }
        }
        at += plane_bytes(w);
        shift += w;
    }
}

/// Unpacks the 32 codes of one group from its planes (`group_bytes(bits)` bytes).
pub fn unpack(bits: u32, planes: &[u8]) -> [u8; GROUP] {
    debug_assert_eq!(planes.len(), group_bytes(bits));
    let mut codes = [0u8; GROUP];
    let mut at = 0;
    let mut shift = 0;
    for &w in widths(bits) {
        let plane = &planes[at..at + plane_bytes(w)];
        let mask = ((1u32 << w) - 1) as u8;
        for (i, c) in codes.iter_mut().enumerate() {
            let part = match w {
                8 => plane[i],
                4 => plane[i % 16] >> (4 * (i / 16)),
                2 => plane[i % 8] >> (2 * (i / 8)),
                _ => plane[i / 8] >> (i % 8),
            } & mask;
            *c |= part << shift;
        }
        at += plane_bytes(w);
        shift += w;
    }
    codes
}

const fn plane_bytes(width: u32) -> usize {
    GROUP * width as usize / 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_sizes_add_up() {
        for bits in 1..=8 {
            let total: u32 = widths(bits).iter().sum();
            assert_eq!(total, bits);
            let bytes: usize = widths(bits).iter().map(|&w| plane_bytes(w)).sum();
            assert_eq!(bytes, group_bytes(bits));
        }
    }

    #[test]
    fn round_trip_every_width() {
        for bits in 1..=8u32 {
            let codes: [u8; GROUP] =
                std::array::from_fn(|i| ((i as u32 * 37 + 11) % (1 << bits)) as u8);
            let mut out = vec![0xAA; group_bytes(bits)];
            pack(bits, &codes, &mut out);
            assert_eq!(unpack(bits, &out), codes, "bits {bits}");
        }
    }

    #[test]
    fn hand_written_layouts() {
        // 4-bit: byte i holds u[i] low, u[i + 16] high.
        let mut codes = [0u8; GROUP];
        codes[0] = 0x3;
        codes[16] = 0xA;
        codes[15] = 0xF;
        let mut out = [0u8; 16];
        pack(4, &codes, &mut out);
        assert_eq!(out[0], 0xA3);
        assert_eq!(out[15], 0x0F);
        // 2-bit: byte i holds u[i + 8t] in bits 2t..2t+2.
        let mut codes = [0u8; GROUP];
        codes[1] = 1;
        codes[9] = 2;
        codes[17] = 3;
        codes[25] = 1;
        let mut out = [0u8; 8];
        pack(2, &codes, &mut out);
        assert_eq!(out, [0, 0b01_11_10_01, 0, 0, 0, 0, 0, 0]);
        // 3-bit = 2-bit plane (8 bytes) then 1-bit plane (little-endian u32, bit i = bit 2 of u[i]).
        let mut codes = [0u8; GROUP];
        codes[0] = 0b111;
        codes[31] = 0b100;
        let mut out = [0u8; 12];
        pack(3, &codes, &mut out);
        assert_eq!(out, [0b11, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0x80]);
        // 5-bit = 4-bit plane then 1-bit plane.
        let mut codes = [0u8; GROUP];
        codes[3] = 0b1_0110;
        let mut out = [0u8; 20];
        pack(5, &codes, &mut out);
        assert_eq!(out[3], 0x06);
        assert_eq!(out[16], 0b1000);
        // 7-bit = 4, 2, 1.
        let mut codes = [0u8; GROUP];
        codes[8] = 0b101_1001;
        let mut out = [0u8; 28];
        pack(7, &codes, &mut out);
        assert_eq!(out[8], 0x09); // low nibble of u[8]
        assert_eq!(out[16], 0b01 << 2); // bits 4..6 of u[8] in byte 0, bits 2..4
        assert_eq!(out[24 + 1], 0x01); // bit 6 of u[8]: bit 8 of the u32
    }
}
