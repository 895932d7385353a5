//! The hybrid kernel: SHA-NI messages and AVX-512 lanes in one instruction stream.
//!
//! One compression of 16 lanes (one nonce per 32-bit lane, as in `avx512.rs`) is written in
//! assembly with its state and temporaries confined to `zmm16`–`zmm31`, whose EVEX-only
//! encodings leave the upper halves of `xmm0`–`xmm15` clean: legacy-SSE `sha256rnds2` on those
//! registers pays no state-transition penalty and needs no `vzeroupper`. Between its rounds the
//! same function runs one compression of `M × P` SHA-NI messages (`P` passes of `M` messages
//! whose states live in `xmm8`–`xmm15`, `sha256rnds2`'s round-key operand in `xmm0`): the
//! out-of-order core may then fill the slots one engine leaves idle with the other's work.
//!
//! A batch is 16 + `M × P` consecutive nonces: the lanes take the first 16, the SHA-NI
//! messages the rest; the lanes' output words are tested first, so the lowest passing nonce of
//! the batch wins. Every batch makes one call per message block (the last block of the
//! message, or its two last, then the second hash): each call compresses one block in both
//! engines. The per-run work is the other kernels' (`runs.rs`): the constant first block of a
//! two-block message, the window and its in-place decimal increment, the midstate; the
//! assembly is not specialised on which words vary, so it computes all 64 rounds and the whole
//! schedule (the Rust lane engine drops the constant rounds and terms). Everything between the
//! calls is scalar Rust compiled without AVX, so nothing else touches a vector upper half.

use std::arch::global_asm;

use super::runs::{self, K, SECOND_WORDS};
use super::simd::{self, BitcoinFill, Fill, Sink};
use super::{IV, Prepared};
use crate::problem::{Format, NonceRange};

/// True when this CPU can run the kernel.
pub(super) fn is_available() -> bool {
    is_x86_feature_detected!("sha")
        && is_x86_feature_detected!("sse4.1")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
}

// `scan` and `words`. The driver is scalar code: no AVX feature, so that the compiler puts
// nothing in the upper halves that the assembly's legacy-SSE instructions would pay for.
simd::trampolines!(entry_points, "sse2", drive_best);

/// 16 lanes of 32-bit words, as the assembly loads them.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct V([u32; 16]);

impl V {
    const fn splat(x: u32) -> Self {
        V([x; 16])
    }
}

/// One SHA-NI message: its state as SHA-NI holds it (ABEF, CDGH; in: the state entering the
/// block, out: after the block and its feed-forward) and its 16 message words.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct ShaMsg {
    abef: [u32; 4],
    cdgh: [u32; 4],
    w: [u32; 16],
}

impl ShaMsg {
    const EMPTY: ShaMsg = ShaMsg { abef: [0; 4], cdgh: [0; 4], w: [0; 16] };

    fn set_state(&mut self, s: &[u32; 8]) {
        self.abef = [s[5], s[4], s[1], s[0]];
        self.cdgh = [s[7], s[6], s[3], s[2]];
    }

    fn state(&self) -> [u32; 8] {
        let (x, y) = (self.abef, self.cdgh);
        [x[3], x[2], y[3], y[2], x[1], x[0], y[1], y[0]]
    }
}

/// One block in both engines: `out = compress(state, w)` for the 16 lanes (`scratch` holds
/// their schedule) and, in place, for `M × P` messages.
type Compress = unsafe extern "sysv64" fn(*const V, *const V, *mut V, *mut V, *mut ShaMsg);

/// The round constants, for the assembly (64-byte aligned: legacy-SSE memory operands need 16).
#[repr(C, align(64))]
struct KTable([u32; 64]);
static K_TABLE: KTable = KTable(K);

// The assembly. Lane registers: zmm16..zmm23 the state (renamed round by round, so no moves),
// zmm24..zmm26 round temporaries, zmm28..zmm31 the schedule. SHA-NI: xmm8 + 2j / xmm9 + 2j
// message j's ABEF / CDGH, xmm1 + j its round keys, xmm0 `sha256rnds2`'s implicit operand,
// xmm5, xmm6 its schedule. Arguments (System V): rdi lane state in, rsi lane message words,
// rdx lane state out, rcx lane schedule scratch (16 vectors), r8 the SHA-NI messages.
global_asm!(
    ".pushsection .text.cnd_hybrid,\"ax\",@progbits",
    // The schedule word W[t] (t >= 16) of the lanes, into zmm28 and scratch[t % 16].
    ".macro cnd_lsched t",
    "vmovdqu32 zmm28, [rcx + 64*(((\\t)-15)&15)]",
    "vprord zmm29, zmm28, 7",
    "vprord zmm30, zmm28, 18",
    "vpsrld zmm28, zmm28, 3",
    "vpternlogd zmm28, zmm29, zmm30, 0x96",
    "vmovdqu32 zmm31, [rcx + 64*(((\\t)-2)&15)]",
    "vprord zmm29, zmm31, 17",
    "vprord zmm30, zmm31, 19",
    "vpsrld zmm31, zmm31, 10",
    "vpternlogd zmm31, zmm29, zmm30, 0x96",
    "vpaddd zmm28, zmm28, zmm31",
    "vpaddd zmm28, zmm28, [rcx + 64*(((\\t)-16)&15)]",
    "vpaddd zmm28, zmm28, [rcx + 64*(((\\t)-7)&15)]",
    "vmovdqu32 [rcx + 64*((\\t)&15)], zmm28",
    ".endm",
    // Lane round t; h ends as the new a, d as the new e.
    ".macro cnd_lround a, b, c, d, e, f, g, h, t",
    ".if (\\t) >= 16",
    "cnd_lsched \\t",
    "vpaddd \\h, \\h, zmm28",
    ".else",
    "vpaddd \\h, \\h, [rcx + 64*(\\t)]",
    ".endif",
    "vpaddd \\h, \\h, dword ptr [rip + {k} + 4*(\\t)]{{1to16}}",
    "vprord zmm24, \\e, 6",
    "vprord zmm25, \\e, 11",
    "vprord zmm26, \\e, 25",
    "vpternlogd zmm24, zmm25, zmm26, 0x96",
    "vpaddd \\h, \\h, zmm24",
    "vmovdqa32 zmm25, \\e",
    "vpternlogd zmm25, \\f, \\g, 0xca",
    "vpaddd \\h, \\h, zmm25",
    "vpaddd \\d, \\d, \\h",
    "vprord zmm24, \\a, 2",
    "vprord zmm25, \\a, 13",
    "vprord zmm26, \\a, 22",
    "vpternlogd zmm24, zmm25, zmm26, 0x96",
    "vpaddd \\h, \\h, zmm24",
    "vmovdqa32 zmm25, \\a",
    "vpternlogd zmm25, \\b, \\c, 0xe8",
    "vpaddd \\h, \\h, zmm25",
    ".endm",
    // SHA-NI step k (rounds 2k, 2k + 1) of message j of pass p (base: its ShaMsg).
    ".macro cnd_smsg k, p, j, m, abef, cdgh, wk",
    ".if (\\k) == 0",
    "movdqa \\abef, [r8 + 96*((\\p)*(\\m)+(\\j))]",
    "movdqa \\cdgh, [r8 + 96*((\\p)*(\\m)+(\\j)) + 16]",
    ".endif",
    ".if ((\\k)&1) == 0",
    ".if ((\\k)>>1) >= 4",
    "movdqa xmm5, [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*(((\\k)>>1)&3)]",
    "sha256msg1 xmm5, [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*((((\\k)>>1)+1)&3)]",
    "movdqa xmm6, [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*((((\\k)>>1)+3)&3)]",
    "palignr xmm6, [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*((((\\k)>>1)+2)&3)], 4",
    "paddd xmm5, xmm6",
    "sha256msg2 xmm5, [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*((((\\k)>>1)+3)&3)]",
    "movdqa [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*(((\\k)>>1)&3)], xmm5",
    "movdqa \\wk, xmm5",
    ".else",
    "movdqa \\wk, [r8 + 96*((\\p)*(\\m)+(\\j)) + 32 + 16*((\\k)>>1)]",
    ".endif",
    "paddd \\wk, [rip + {k} + 16*((\\k)>>1)]",
    "movdqa xmm0, \\wk",
    "sha256rnds2 \\cdgh, \\abef, xmm0",
    ".else",
    "pshufd xmm0, \\wk, 0x0e",
    "sha256rnds2 \\abef, \\cdgh, xmm0",
    ".endif",
    ".if (\\k) == 31",
    "paddd \\abef, [r8 + 96*((\\p)*(\\m)+(\\j))]",
    "paddd \\cdgh, [r8 + 96*((\\p)*(\\m)+(\\j)) + 16]",
    "movdqa [r8 + 96*((\\p)*(\\m)+(\\j))], \\abef",
    "movdqa [r8 + 96*((\\p)*(\\m)+(\\j)) + 16], \\cdgh",
    ".endif",
    ".endm",
    // Global SHA-NI step i (pass i / 32, step i % 32) of every message of the pass.
    ".macro cnd_sstep i, m",
    "cnd_smsg ((\\i)&31), ((\\i)>>5), 0, \\m, xmm8, xmm9, xmm1",
    ".if (\\m) > 1",
    "cnd_smsg ((\\i)&31), ((\\i)>>5), 1, \\m, xmm10, xmm11, xmm2",
    ".endif",
    ".if (\\m) > 2",
    "cnd_smsg ((\\i)&31), ((\\i)>>5), 2, \\m, xmm12, xmm13, xmm3",
    "cnd_smsg ((\\i)&31), ((\\i)>>5), 3, \\m, xmm14, xmm15, xmm4",
    ".endif",
    ".endm",
    // After lane round t: the SHA-NI steps that fall there (32 P steps over 64 rounds).
    ".macro cnd_after t, m, p",
    ".if (\\m) > 0",
    ".if (\\p) == 1",
    ".if ((\\t)&1) == 1",
    "cnd_sstep ((\\t)>>1), \\m",
    ".endif",
    ".endif",
    ".if (\\p) == 2",
    "cnd_sstep (\\t), \\m",
    ".endif",
    ".if (\\p) == 4",
    "cnd_sstep (2*(\\t)), \\m",
    "cnd_sstep (2*(\\t)+1), \\m",
    ".endif",
    ".endif",
    ".endm",
    // Eight lane rounds from t, each followed by its SHA-NI steps.
    ".macro cnd_round8 t, m, p, l",
    ".if (\\l) == 1",
    "cnd_lround zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, (\\t)",
    ".endif",
    "cnd_after (\\t), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm23, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, (\\t+1)",
    ".endif",
    "cnd_after (\\t+1), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm22, zmm23, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, (\\t+2)",
    ".endif",
    "cnd_after (\\t+2), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm21, zmm22, zmm23, zmm16, zmm17, zmm18, zmm19, zmm20, (\\t+3)",
    ".endif",
    "cnd_after (\\t+3), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm20, zmm21, zmm22, zmm23, zmm16, zmm17, zmm18, zmm19, (\\t+4)",
    ".endif",
    "cnd_after (\\t+4), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm19, zmm20, zmm21, zmm22, zmm23, zmm16, zmm17, zmm18, (\\t+5)",
    ".endif",
    "cnd_after (\\t+5), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm16, zmm17, (\\t+6)",
    ".endif",
    "cnd_after (\\t+6), \\m, \\p",
    ".if (\\l) == 1",
    "cnd_lround zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm16, (\\t+7)",
    ".endif",
    "cnd_after (\\t+7), \\m, \\p",
    ".endm",
    // The function `name`: one block, 16 lanes and m x p SHA-NI messages.
    ".macro cnd_compress name, m, p, l",
    ".p2align 6",
    ".globl \\name",
    ".hidden \\name",
    ".type \\name, @function",
    "\\name:",
    ".irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
    "vmovdqu32 zmm28, [rsi + 64*\\i]",
    "vmovdqu32 [rcx + 64*\\i], zmm28",
    ".endr",
    "vmovdqu32 zmm16, [rdi + 0]",
    "vmovdqu32 zmm17, [rdi + 64]",
    "vmovdqu32 zmm18, [rdi + 128]",
    "vmovdqu32 zmm19, [rdi + 192]",
    "vmovdqu32 zmm20, [rdi + 256]",
    "vmovdqu32 zmm21, [rdi + 320]",
    "vmovdqu32 zmm22, [rdi + 384]",
    "vmovdqu32 zmm23, [rdi + 448]",
    ".irp t, 0, 8, 16, 24, 32, 40, 48, 56",
    "cnd_round8 \\t, \\m, \\p, \\l",
    ".endr",
    "vpaddd zmm16, zmm16, [rdi + 0]",
    "vmovdqu32 [rdx + 0], zmm16",
    "vpaddd zmm17, zmm17, [rdi + 64]",
    "vmovdqu32 [rdx + 64], zmm17",
    "vpaddd zmm18, zmm18, [rdi + 128]",
    "vmovdqu32 [rdx + 128], zmm18",
    "vpaddd zmm19, zmm19, [rdi + 192]",
    "vmovdqu32 [rdx + 192], zmm19",
    "vpaddd zmm20, zmm20, [rdi + 256]",
    "vmovdqu32 [rdx + 256], zmm20",
    "vpaddd zmm21, zmm21, [rdi + 320]",
    "vmovdqu32 [rdx + 320], zmm21",
    "vpaddd zmm22, zmm22, [rdi + 384]",
    "vmovdqu32 [rdx + 384], zmm22",
    "vpaddd zmm23, zmm23, [rdi + 448]",
    "vmovdqu32 [rdx + 448], zmm23",
    "ret",
    ".size \\name, . - \\name",
    ".endm",
    "cnd_compress cnd_hybrid_m0p1, 0, 1, 1",
    "cnd_compress cnd_hybrid_m1p1, 1, 1, 1",
    "cnd_compress cnd_hybrid_m2p1, 2, 1, 1",
    "cnd_compress cnd_hybrid_m4p1, 4, 1, 1",
    "cnd_compress cnd_hybrid_m4p2, 4, 2, 1",
    "cnd_compress cnd_hybrid_m4p4, 4, 4, 1",
    // SHA-NI alone (no lanes): for the measurements only.
    "cnd_compress cnd_hybrid_sha_m4p1, 4, 1, 0",
    "cnd_compress cnd_hybrid_sha_m4p4, 4, 4, 0",
    ".popsection",
    k = sym K_TABLE,
);

unsafe extern "sysv64" {
    fn cnd_hybrid_m0p1(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    fn cnd_hybrid_m1p1(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    fn cnd_hybrid_m2p1(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    fn cnd_hybrid_m4p1(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    fn cnd_hybrid_m4p2(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    fn cnd_hybrid_m4p4(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    #[cfg(test)]
    fn cnd_hybrid_sha_m4p1(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
    #[cfg(test)]
    fn cnd_hybrid_sha_m4p4(state: *const V, w: *const V, out: *mut V, scratch: *mut V, sha: *mut ShaMsg);
}

/// The variants measured (`hybrid_variants`): name, function, SHA-NI messages per 16 lanes.
const VARIANTS: [(&str, Compress, usize); 6] = [
    ("lanes", cnd_hybrid_m0p1, 0),
    ("m1", cnd_hybrid_m1p1, 1),
    ("m2", cnd_hybrid_m2p1, 2),
    ("m4", cnd_hybrid_m4p1, 4),
    ("m4x2", cnd_hybrid_m4p2, 8),
    ("m4x4", cnd_hybrid_m4p4, 16),
];

/// Most SHA-NI messages of a variant.
const MAX_SHA: usize = 16;

/// The kernel's variant: the fastest with SHA-NI messages on the CPU measured (one message
/// per 16 lanes; see `docs/performance.md`, "The hybrid kernel").
const CHOSEN: usize = 1;

/// The buffers of one scan.
struct Bufs {
    /// The lanes' state entering the first hashed block.
    state0: [V; 8],
    /// The lanes' message words of the first hashed block and (two-block layouts) the next.
    w0: [V; 16],
    w1: [V; 16],
    /// The lanes' state after the first of two blocks.
    mid: [V; 8],
    /// The second hash's message: the first hash's digest (written by the assembly), then
    /// the padding.
    w2: [V; 16],
    iv: [V; 8],
    out: [V; 8],
    scratch: [V; 16],
    sha: [ShaMsg; MAX_SHA],
}

impl Bufs {
    fn new() -> Box<Self> {
        let mut w2 = [V::splat(0); 16];
        for (row, &x) in w2.iter_mut().zip(&SECOND_WORDS).skip(8) {
            *row = V::splat(x);
        }
        Box::new(Bufs {
            state0: [V::splat(0); 8],
            w0: [V::splat(0); 16],
            w1: [V::splat(0); 16],
            mid: [V::splat(0); 8],
            w2,
            iv: IV.map(V::splat),
            out: [V::splat(0); 8],
            scratch: [V::splat(0); 16],
            sha: [ShaMsg::EMPTY; MAX_SHA],
        })
    }
}

/// Where the nonce's window is in the hashed blocks.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// The window's first word, in the first hashed block.
    s: usize,
    /// A low window word (text); Bitcoin's window is one word.
    lo: bool,
    /// Two blocks hashed per nonce.
    two: bool,
    /// The output word the early test reads.
    out: usize,
}

/// Hashes `range` in batches of 16 lanes and `k` SHA-NI messages; `tmpl` holds the hashed
/// block(s) of the message (window words ignored), `state` the state entering the first.
/// Returns true when the sink ended the scan.
///
/// # Safety
/// The CPU must have the kernel's features.
#[allow(clippy::too_many_arguments)]
unsafe fn run_batches<F: Fill, S: Sink>(
    f: Compress,
    k: usize,
    b: &mut Bufs,
    shape: Shape,
    state: &[u32; 8],
    tmpl: &[[u32; 16]; 2],
    range: NonceRange,
    fill: &mut F,
    sink: &mut S,
) -> bool {
    let Shape { s, lo, two, out } = shape;
    b.state0 = state.map(V::splat);
    for (row, &x) in b.w0.iter_mut().zip(&tmpl[0]) {
        *row = V::splat(x);
    }
    for (row, &x) in b.w1.iter_mut().zip(&tmpl[1]) {
        *row = V::splat(x);
    }
    let (mut hi, mut low) = (V::splat(0), V::splat(0));
    let (mut shi, mut slo) = ([0u32; 16], [0u32; 16]);
    let mut words = [0u32; 16 + MAX_SHA];
    let mut n = range.start;
    while n < range.end {
        let valid = (range.end - n).min((16 + k) as u64) as usize;
        fill.fill(&mut hi.0, &mut low.0, 16);
        b.w0[s] = hi;
        if lo {
            if s < 15 {
                b.w0[s + 1] = low;
            } else {
                b.w1[0] = low;
            }
        }
        if k > 0 {
            fill.fill(&mut shi, &mut slo, k);
        }
        for (j, m) in b.sha[..k].iter_mut().enumerate() {
            m.set_state(state);
            m.w = tmpl[0];
            m.w[s] = shi[j];
            if lo && s < 15 {
                m.w[s + 1] = slo[j];
            }
        }
        // SAFETY: the pointers are to distinct fields of `b` (the assembly reads `state`
        // before it writes `out`); the caller guarantees the CPU features.
        unsafe {
            if two {
                f(b.state0.as_ptr(), b.w0.as_ptr(), b.mid.as_mut_ptr(), b.scratch.as_mut_ptr(), b.sha.as_mut_ptr());
                for (j, m) in b.sha[..k].iter_mut().enumerate() {
                    m.w = tmpl[1];
                    if lo && s == 15 {
                        m.w[0] = slo[j];
                    }
                }
                f(b.mid.as_ptr(), b.w1.as_ptr(), b.w2.as_mut_ptr(), b.scratch.as_mut_ptr(), b.sha.as_mut_ptr());
            } else {
                f(b.state0.as_ptr(), b.w0.as_ptr(), b.w2.as_mut_ptr(), b.scratch.as_mut_ptr(), b.sha.as_mut_ptr());
            }
        }
        for m in &mut b.sha[..k] {
            let d = m.state();
            m.w[..8].copy_from_slice(&d);
            m.w[8..].copy_from_slice(&SECOND_WORDS[8..]);
            m.set_state(&IV);
        }
        // SAFETY: as above.
        unsafe { f(b.iv.as_ptr(), b.w2.as_ptr(), b.out.as_mut_ptr(), b.scratch.as_mut_ptr(), b.sha.as_mut_ptr()) };
        words[..16].copy_from_slice(&b.out[out].0);
        for (w, m) in words[16..16 + k].iter_mut().zip(&b.sha) {
            *w = m.state()[out];
        }
        // The lanes first: a golden nonce there ends the scan before the SHA-NI ones count.
        if sink.words(n, &words[..valid.min(16)]) {
            return true;
        }
        if valid > 16 && sink.words(n + 16, &words[16..valid]) {
            return true;
        }
        n += valid as u64;
    }
    false
}

/// # Safety
/// The CPU must have the kernel's features.
unsafe fn drive_best<S: Sink>(prepared: &Prepared, range: NonceRange, sink: &mut S) {
    let (_, f, k) = VARIANTS[CHOSEN];
    // SAFETY: forwarded.
    unsafe { drive(f, k, prepared, range, sink) }
}

/// # Safety
/// The CPU must have the kernel's features.
unsafe fn drive<S: Sink>(f: Compress, k: usize, prepared: &Prepared, range: NonceRange, sink: &mut S) {
    let mut b = Bufs::new();
    if prepared.problem().format() == Format::Bitcoin {
        let tmpl = [runs::words(&prepared.bitcoin_block()), [0; 16]];
        let shape = Shape { s: 3, lo: false, two: false, out: 7 };
        let mut fill = BitcoinFill { next: range.start };
        // SAFETY: forwarded.
        unsafe { run_batches(f, k, &mut b, shape, prepared.midstate(), &tmpl, range, &mut fill, sink) };
        return;
    }
    for run in runs::text_runs(prepared, range) {
        let (first, s, _) = run.window();
        let two = first == 0 && run.nblocks == 2;
        let tmpl = [runs::words(&run.blocks[first]), runs::words(&run.blocks[1])];
        let shape = Shape { s, lo: true, two, out: 0 };
        let mut fill = run.fill;
        // SAFETY: forwarded.
        if unsafe { run_batches(f, k, &mut b, shape, &run.state_in, &tmpl, run.range, &mut fill, sink) } {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::arch::asm;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    use super::*;
    use crate::hash::tests::GENESIS_HEADER_BYTES;
    use crate::kernel::{Kernel, thread_cpu_seconds};
    use crate::problem::{DEFAULT_BLOCK, Problem};

    /// The clock, from a chain of dependent `add`s (one cycle each), in Hz.
    fn clock_hz() -> f64 {
        const ITERS: u64 = 50_000_000;
        let t = Instant::now();
        let c0 = thread_cpu_seconds().expect("CPU time (Linux)");
        // SAFETY: integer registers only.
        unsafe {
            asm!("2:", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
                 "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "dec {n}", "jnz 2b",
                 n = inout(reg) ITERS => _, x = inout(reg) 1u64 => _, options(nostack));
        }
        let cpu = thread_cpu_seconds().expect("CPU time") - c0;
        let _ = t;
        8.0 * ITERS as f64 / cpu
    }

    /// Each engine alone and both together, in cycles per compression call and per nonce
    /// block, then the kernel's rate per CPU-second for every variant against `avx512` and
    /// `sha-ni`, interleaved: `cargo test -p cnd-core --release hybrid_variants -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn hybrid_variants() {
        if !is_available() {
            println!("this CPU cannot run the hybrid kernel");
            return;
        }
        let hz = clock_hz();
        println!("clock ≈ {:.2} GHz (dependent adds, per CPU-second)", hz / 1e9);
        let calls: [(&str, Compress, usize, usize); 8] = [
            ("lanes alone", cnd_hybrid_m0p1, 16, 0),
            ("sha 4 alone", cnd_hybrid_sha_m4p1, 0, 4),
            ("sha 16 alone", cnd_hybrid_sha_m4p4, 0, 16),
            ("lanes + sha 1", cnd_hybrid_m1p1, 16, 1),
            ("lanes + sha 2", cnd_hybrid_m2p1, 16, 2),
            ("lanes + sha 4", cnd_hybrid_m4p1, 16, 4),
            ("lanes + sha 8", cnd_hybrid_m4p2, 16, 8),
            ("lanes + sha 16", cnd_hybrid_m4p4, 16, 16),
        ];
        let mut b = Bufs::new();
        const CALLS: u32 = 200_000;
        let mut best = [f64::MAX; 8];
        for _ in 0..5 {
            for (i, &(_, f, _, _)) in calls.iter().enumerate() {
                let c0 = thread_cpu_seconds().expect("CPU time");
                for _ in 0..CALLS {
                    // SAFETY: the CPU has the features; the buffers are distinct.
                    unsafe {
                        f(b.iv.as_ptr(), b.w2.as_ptr(), b.out.as_mut_ptr(), b.scratch.as_mut_ptr(), b.sha.as_mut_ptr())
                    };
                }
                best[i] = best[i].min((thread_cpu_seconds().expect("CPU time") - c0) * hz / f64::from(CALLS));
            }
        }
        for (&(name, _, lanes, sha), cycles) in calls.iter().zip(best) {
            println!(
                "{name:<16} {cycles:>7.0} cycles per block, {:>5.1} per message block ({lanes} lanes + {sha} SHA-NI)",
                cycles / (lanes + sha) as f64
            );
        }

        let problems = [
            ("text", Problem::text(DEFAULT_BLOCK, 256).unwrap(), 1_000_000_000u64),
            ("bitcoin", Problem::bitcoin(&GENESIS_HEADER_BYTES(), Some(256)).unwrap(), 0),
        ];
        let stop = AtomicBool::new(false);
        for (format, problem, start) in &problems {
            let prepared = Prepared::new(problem);
            let mut names: Vec<String> = vec!["avx512".into(), "sha-ni".into()];
            names.extend(VARIANTS.iter().map(|v| format!("hybrid/{}", v.0)));
            let mut rates = vec![vec![]; names.len()];
            for rep in 0..5u64 {
                let range = NonceRange::new(start + rep * (1 << 22), start + (rep + 1) * (1 << 22)).unwrap();
                for (i, rates) in rates.iter_mut().enumerate() {
                    let c0 = thread_cpu_seconds().expect("CPU time");
                    let hashes = match i {
                        0 => Kernel::Avx512.scan(&prepared, range, &stop).hashes,
                        1 => Kernel::ShaNi.scan(&prepared, range, &stop).hashes,
                        _ => {
                            let (_, f, k) = VARIANTS[i - 2];
                            let mut sink = simd::ScanSink::new(&prepared, &stop);
                            // SAFETY: the CPU has the features.
                            unsafe { drive(f, k, &prepared, range, &mut sink) };
                            sink.scan.hashes
                        }
                    };
                    rates.push(hashes as f64 / (thread_cpu_seconds().expect("CPU time") - c0));
                }
            }
            for (name, mut r) in names.iter().zip(rates) {
                r.sort_by(f64::total_cmp);
                println!(
                    "{format:<8} {name:<12} {:>6.2} M nonces per CPU-second (median of 5), {:>5.0} cycles per nonce",
                    r[2] / 1e6,
                    hz / r[2]
                );
            }
        }
    }
}
