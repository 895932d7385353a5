//! What the fast kernels share: scalar SHA-256 pieces for precomputation, the per-block
//! constants, and the split of a text-format range into *runs*.
//!
//! A run is a stretch of nonces whose messages differ only in one 8-byte *window*: the two
//! message words (`ws`, `ws + 1`) that end with the nonce's last decimal digit. Everything
//! outside the window is constant across the run, so a kernel computes it once per run: the
//! rounds before word `ws`, the message schedule words that do not depend on the window, the
//! constant terms of those that do, and (for two-block messages whose window is in the second
//! block) the whole first block. A run holds at least `min(10^5, segment)` nonces, so this
//! work is negligible. Inside a run the window's digits are kept as ASCII in a `u64` and
//! incremented in place ([`TextFill`]).

use super::{Prepared, SECOND_BLOCK};
use crate::problem::NonceRange;

/// The SHA-256 round constants.
pub(super) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

pub(super) const fn small_sigma0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

pub(super) const fn small_sigma1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// Rounds `from..to` of SHA-256 on one state, with `kw[t] = K[t] + W[t]`.
pub(super) fn scalar_rounds(mut s: [u32; 8], kw: &[u32; 64], from: usize, to: usize) -> [u32; 8] {
    for &kw in &kw[from..to] {
        let [a, b, c, d, e, f, g, h] = s;
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h.wrapping_add(s1).wrapping_add(ch).wrapping_add(kw);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    s
}

/// One full compression (with the feed-forward), on `sha2`'s implementation.
pub(super) fn compress(state: &[u32; 8], block: &[u8]) -> [u32; 8] {
    let mut s = *state;
    let block: [u8; 64] = block.try_into().expect("64 bytes");
    sha2::block_api::compress256(&mut s, &[block]);
    s
}

/// The 16 big-endian words of a 64-byte block.
pub(super) const fn words(block: &[u8; 64]) -> [u32; 16] {
    let mut w = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        i += 1;
    }
    w
}

/// Which of the 64 schedule words vary, given which of the 16 message words vary.
pub(super) const fn schedule_var(var16: u32) -> u64 {
    let mut m = var16 as u64 & 0xffff;
    let mut t = 16;
    while t < 64 {
        if (m >> (t - 2)) & 1 != 0 || (m >> (t - 7)) & 1 != 0 || (m >> (t - 15)) & 1 != 0 || (m >> (t - 16)) & 1 != 0 {
            m |= 1 << t;
        }
        t += 1;
    }
    m
}

/// What a block's compression needs of its constant words, computed once per run.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockConsts {
    /// `K[t] + W[t]` for every schedule word `t` that does not vary.
    pub(super) kw: [u32; 64],
    /// For a varying schedule word `t >= 16`: the sum of its constant terms.
    pub(super) part: [u32; 64],
}

impl BlockConsts {
    /// Constants of a block whose words are `w16`, of which those in `var16` vary (their
    /// values in `w16` are ignored).
    pub(super) const fn new(w16: &[u32; 16], var16: u32) -> Self {
        let var = schedule_var(var16);
        let mut w = [0u32; 64];
        let mut t = 0;
        while t < 16 {
            w[t] = w16[t];
            t += 1;
        }
        while t < 64 {
            w[t] = small_sigma1(w[t - 2])
                .wrapping_add(w[t - 7])
                .wrapping_add(small_sigma0(w[t - 15]))
                .wrapping_add(w[t - 16]);
            t += 1;
        }
        let mut kw = [0u32; 64];
        let mut part = [0u32; 64];
        t = 0;
        while t < 64 {
            if (var >> t) & 1 == 0 {
                kw[t] = K[t].wrapping_add(w[t]);
            } else if t >= 16 {
                let mut p = 0u32;
                if (var >> (t - 2)) & 1 == 0 {
                    p = p.wrapping_add(small_sigma1(w[t - 2]));
                }
                if (var >> (t - 7)) & 1 == 0 {
                    p = p.wrapping_add(w[t - 7]);
                }
                if (var >> (t - 15)) & 1 == 0 {
                    p = p.wrapping_add(small_sigma0(w[t - 15]));
                }
                if (var >> (t - 16)) & 1 == 0 {
                    p = p.wrapping_add(w[t - 16]);
                }
                part[t] = p;
            }
            t += 1;
        }
        Self { kw, part }
    }
}

/// The second hash's block as words: the digest (words 0..8, left zero) and the padding.
pub(super) const SECOND_WORDS: [u32; 16] = words(&SECOND_BLOCK);

/// The second hash's block: a 32-byte digest (words 0..8 vary) and constant padding.
pub(super) const SECOND: BlockConsts = BlockConsts::new(&SECOND_WORDS, 0xff);

/// The ASCII digits of the window, kept in a big-endian `u64` and incremented in place
/// (SWAR: each digit byte is held as `digit + 246`, so a carry out of a 9 is a byte overflow).
#[derive(Debug, Clone, Copy)]
pub(super) struct TextFill {
    /// The window's digit bytes, each `digit + 246`; other bytes zero.
    biased: u64,
    /// The window's constant bytes; digit bytes zero.
    constant: u64,
    /// One at the last digit's byte.
    one: u64,
    /// 0x80 at every digit byte.
    high: u64,
    /// 198 at every digit byte: `biased - ascii_bias` is the ASCII digit.
    ascii_bias: u64,
}

impl TextFill {
    /// The window words (high, low) of the current nonce, then moves to the next nonce.
    #[inline(always)]
    pub(super) fn next(&mut self) -> (u32, u32) {
        let x = self.constant | self.biased.wrapping_sub(self.ascii_bias);
        let b = self.biased.wrapping_add(self.one);
        let overflowed = (!b & self.high) >> 7;
        self.biased = b | overflowed.wrapping_mul(0xf6);
        ((x >> 32) as u32, x as u32)
    }
}

/// Where the window sits and what a block sees of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// The window is in the last block, at words `s`, `s + 1` (`s <= 12`); any block before
    /// it is constant across the run (its output is `Run::state_in`).
    LastBlock { s: usize },
    /// Two blocks; the window is in the first at words `s`, `s + 1` (`12 <= s <= 14`); the
    /// second block is all constant.
    FirstOfTwo { s: usize },
    /// Two blocks; the window's high word is the first block's word 15 and its low word the
    /// second block's word 0.
    Straddle,
}

/// One run of a text-format range.
#[derive(Debug, Clone)]
pub(super) struct Run {
    /// The nonces of the run.
    pub(super) range: NonceRange,
    /// The final message block(s) of the run's first nonce, padded.
    pub(super) blocks: [[u8; 64]; 2],
    /// 1 or 2.
    pub(super) nblocks: usize,
    /// The block layout.
    pub(super) layout: Layout,
    /// State entering the block that holds the window's first word (the midstate, or the
    /// output of a constant first block).
    pub(super) state_in: [u32; 8],
    /// The window's digits.
    pub(super) fill: TextFill,
}

impl Run {
    /// Where the window's first word is: the index of the block that holds it (the first
    /// block hashed per nonce), its word in that block, and which of that block's 16 words
    /// vary (the window's words within the block).
    pub(super) fn window(&self) -> (usize, usize, u32) {
        let (block, s) = match self.layout {
            Layout::LastBlock { s } => (self.nblocks - 1, s),
            Layout::FirstOfTwo { s } => (0, s),
            Layout::Straddle => (0, 15),
        };
        (block, s, window_var(s))
    }
}

/// The varying words of a block whose window starts at word `s`: `s` and `s + 1` if that is
/// still in the block.
pub(super) const fn window_var(s: usize) -> u32 {
    (0b11 << s) & 0xffff
}

/// Splits a text-format range into runs, in increasing nonce order.
pub(super) fn text_runs(prepared: &Prepared, range: NonceRange) -> impl Iterator<Item = Run> + '_ {
    super::digit_segments(range).flat_map(move |(segment, digits)| {
        let tail = prepared.tail();
        let msg_len = tail.len() + digits;
        let nblocks = (msg_len + 9).div_ceil(64);
        let last = msg_len - 1;
        let ws = (last / 4).saturating_sub(1);
        let field_lo = tail.len().max(4 * ws) - 4 * ws;
        let field_hi = last - 4 * ws;
        let window_digits = (field_hi - field_lo + 1) as u32;
        let run_len = 10u64.pow(window_digits);
        let mut field = 0u64;
        for o in field_lo..=field_hi {
            field |= 0xff << (8 * (7 - o));
        }
        let layout = match (nblocks, ws) {
            (1, s) => Layout::LastBlock { s },
            (_, s) if s >= 16 => Layout::LastBlock { s: s - 16 },
            (_, 15) => Layout::Straddle,
            (_, s) => Layout::FirstOfTwo { s },
        };
        let mut start = segment.start;
        std::iter::from_fn(move || {
            if start >= segment.end {
                return None;
            }
            let end = (start / run_len + 1).checked_mul(run_len).map_or(segment.end, |e| e.min(segment.end));
            let range = NonceRange { start, end };
            start = end;
            let (blocks, n) = prepared.text_blocks(range.start);
            debug_assert_eq!(n, nblocks);
            let bytes = blocks.as_flattened();
            let window = u64::from_be_bytes(bytes[4 * ws..4 * ws + 8].try_into().expect("8 bytes"));
            let ascii_bias = field & 0xc6c6_c6c6_c6c6_c6c6;
            let fill = TextFill {
                biased: (window & field) + ascii_bias,
                constant: window & !field,
                one: 1 << (8 * (7 - field_hi)),
                high: field & 0x8080_8080_8080_8080,
                ascii_bias,
            };
            let state_in =
                if nblocks == 2 && ws >= 16 { compress(prepared.midstate(), &blocks[0]) } else { *prepared.midstate() };
            Some(Run { range, blocks, nblocks, layout, state_in, fill })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash;
    use crate::problem::Problem;

    #[test]
    fn text_fill_counts_in_ascii_across_carries() {
        let problem = Problem::text("COMSM0010cloud", 0).unwrap();
        let prepared = Prepared::new(&problem);
        for start in [0u64, 7, 95, 999_990, 1_234_599_990, 99_999_999_990] {
            let range = NonceRange { start, end: start + 25 };
            for run in text_runs(&prepared, range) {
                let mut fill = run.fill;
                for n in run.range.start..run.range.end {
                    let (hi, lo) = fill.next();
                    let mut msg = [0u8; 128];
                    let text = format!("COMSM0010cloud{n}");
                    msg[..text.len()].copy_from_slice(text.as_bytes());
                    hash::pad(&mut msg[..64 * run.nblocks], text.len(), text.len() as u64);
                    // The window's first word, counted over both blocks.
                    let (block, s, _) = run.window();
                    let w = 4 * (16 * block + s);
                    assert_eq!(hi, u32::from_be_bytes(msg[w..w + 4].try_into().unwrap()), "nonce {n}");
                    assert_eq!(lo, u32::from_be_bytes(msg[w + 4..w + 8].try_into().unwrap()), "nonce {n}");
                }
            }
        }
    }

    #[test]
    fn runs_cover_the_range_in_order() {
        for tail_len in [0usize, 3, 14, 50, 55, 56, 60, 63, 64, 100, 130] {
            let problem = Problem::text(vec![b'x'; tail_len], 0).unwrap();
            let prepared = Prepared::new(&problem);
            let range = NonceRange { start: 99_990, end: 1_000_123 };
            let mut next = range.start;
            for run in text_runs(&prepared, range) {
                assert_eq!(run.range.start, next);
                next = run.range.end;
            }
            assert_eq!(next, range.end);
        }
    }
}
