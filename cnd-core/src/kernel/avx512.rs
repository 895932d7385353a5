//! The AVX-512 kernel: 16 nonces per instruction in 32-bit lanes (`avx512f` + `avx512vl`).
//! Rotations are `vprord`, Ch, Maj and the three-way XORs of Σ/σ are one `vpternlogd` each,
//! and the early test is one masked `vptestnmd`. The SHA-256 code is the shared lane engine
//! (`simd.rs`), compiled here with these features.

// AVX-512 intrinsics are stable since Rust 1.89, the workspace's rust-version.

use std::arch::x86_64::*;

use super::simd::{self, Lanes};

/// True when this CPU can run the kernel.
pub(super) fn is_available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl")
}

// `scan` and `words`, compiled with the features `__m512i`'s `Lanes` needs.
simd::trampolines!(entry_points, "avx512f,avx512vl", simd::drive::<__m512i, _>);

// SAFETY: every method is called only by the kernel above, after `is_available`.
unsafe impl Lanes for __m512i {
    const N: usize = 16;

    #[inline(always)]
    unsafe fn splat(x: u32) -> Self {
        unsafe { _mm512_set1_epi32(x as i32) }
    }
    #[inline(always)]
    unsafe fn load(x: &[u32; 16]) -> Self {
        unsafe { _mm512_loadu_si512(x.as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn store(self, x: &mut [u32; 16]) {
        unsafe { _mm512_storeu_si512(x.as_mut_ptr().cast(), self) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm512_add_epi32(self, b) }
    }
    #[inline(always)]
    unsafe fn big_sigma0(self) -> Self {
        unsafe {
            _mm512_ternarylogic_epi32::<0x96>(
                _mm512_ror_epi32::<2>(self),
                _mm512_ror_epi32::<13>(self),
                _mm512_ror_epi32::<22>(self),
            )
        }
    }
    #[inline(always)]
    unsafe fn big_sigma1(self) -> Self {
        unsafe {
            _mm512_ternarylogic_epi32::<0x96>(
                _mm512_ror_epi32::<6>(self),
                _mm512_ror_epi32::<11>(self),
                _mm512_ror_epi32::<25>(self),
            )
        }
    }
    #[inline(always)]
    unsafe fn small_sigma0(self) -> Self {
        unsafe {
            _mm512_ternarylogic_epi32::<0x96>(
                _mm512_ror_epi32::<7>(self),
                _mm512_ror_epi32::<18>(self),
                _mm512_srli_epi32::<3>(self),
            )
        }
    }
    #[inline(always)]
    unsafe fn small_sigma1(self) -> Self {
        unsafe {
            _mm512_ternarylogic_epi32::<0x96>(
                _mm512_ror_epi32::<17>(self),
                _mm512_ror_epi32::<19>(self),
                _mm512_srli_epi32::<10>(self),
            )
        }
    }
    #[inline(always)]
    unsafe fn ch(e: Self, f: Self, g: Self) -> Self {
        unsafe { _mm512_ternarylogic_epi32::<0xca>(e, f, g) }
    }
    #[inline(always)]
    unsafe fn maj(a: Self, b: Self, c: Self, _bc: Self) -> Self {
        unsafe { _mm512_ternarylogic_epi32::<0xe8>(a, b, c) }
    }
    #[inline(always)]
    unsafe fn xor(self, b: Self) -> Self {
        unsafe { _mm512_xor_si512(self, b) }
    }
    #[inline(always)]
    unsafe fn zero_lanes(self, mask: Self) -> u32 {
        unsafe { u32::from(_mm512_testn_epi32_mask(self, mask)) }
    }
    // `run`, compiled with the same features.
    simd::trampolines!(lanes_run, "avx512f,avx512vl");
}

/// What the core retires of the kernel's operations on 512-bit registers, in cycles per
/// operation: `vpaddd`, `vpternlogd`, `vprold`, register moves, and the mix of one SHA-256
/// round. Cycles come from a chain of dependent scalar `add`s (1 cycle each).
/// `cargo test -p cnd-core --release avx512_port_limits -- --ignored --nocapture`
#[cfg(test)]
mod tests {
    use std::arch::asm;
    use std::time::Instant;

    const ITERS: u64 = 20_000_000;

    /// CPU seconds `f` took (wall-clock seconds where the thread's CPU time is unknown): on a
    /// busy machine the wall clock counts other processes' time.
    fn seconds(f: impl Fn()) -> f64 {
        let (t, c) = (Instant::now(), crate::kernel::thread_cpu_seconds());
        f();
        match (c, crate::kernel::thread_cpu_seconds()) {
            (Some(c0), Some(c1)) => c1 - c0,
            _ => t.elapsed().as_secs_f64(),
        }
    }

    /// Seconds for `ITERS` iterations of `$body` (a string of AT&T instructions that only
    /// touch `zmm0`–`zmm31`), best of three.
    macro_rules! timed {
        ($($body:literal),* $(,)?) => {{
            let mut best = f64::MAX;
            for _ in 0..3 {
                // SAFETY: the CPU has AVX-512 (checked by the test); every vector register is
                // declared clobbered.
                best = best.min(seconds(|| unsafe {
                    asm!(
                        "vpxord %zmm0, %zmm0, %zmm0",
                        "# scratch: {x}",
                        "2:",
                        $($body,)*
                        "dec {n}", "jnz 2b",
                        "vzeroupper",
                        n = inout(reg) ITERS => _,
                        x = inout(reg) 1u64 => _,
                        out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _,
                        out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
                        out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _,
                        out("zmm15") _, out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _,
                        out("zmm20") _, out("zmm21") _, out("zmm22") _, out("zmm23") _, out("zmm24") _,
                        out("zmm25") _, out("zmm26") _, out("zmm27") _, out("zmm28") _, out("zmm29") _,
                        out("zmm30") _, out("zmm31") _,
                        options(att_syntax, nostack),
                    )
                }));
            }
            best
        }};
    }

    #[test]
    #[ignore = "a measurement, not a test"]
    #[rustfmt::skip] // one line per group of instructions
    fn avx512_port_limits() {
        if !super::is_available() {
            println!("no AVX-512 on this CPU");
            return;
        }
        let adds = (0..3)
            .map(|_| {
                seconds(|| unsafe {
                    // SAFETY: scalar registers only, declared clobbered.
                    asm!("2:", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
                         "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "dec {n}", "jnz 2b",
                         n = inout(reg) ITERS => _, x = inout(reg) 1u64 => _, options(nostack));
                })
            })
            .fold(f64::MAX, f64::min);
        let hz = 8.0 * ITERS as f64 / adds;
        println!("clock ≈ {:.2} GHz (dependent adds)", hz / 1e9);
        let per_op = |s: f64, ops: u64| s * hz / (ITERS * ops) as f64;
        // Eight independent chains of each kind, so latency does not bound them.
        let add = timed!(
            "vpaddd %zmm0, %zmm1, %zmm1", "vpaddd %zmm0, %zmm2, %zmm2", "vpaddd %zmm0, %zmm3, %zmm3",
            "vpaddd %zmm0, %zmm4, %zmm4", "vpaddd %zmm0, %zmm5, %zmm5", "vpaddd %zmm0, %zmm6, %zmm6",
            "vpaddd %zmm0, %zmm7, %zmm7", "vpaddd %zmm0, %zmm8, %zmm8",
        );
        println!("vpaddd zmm          : {:.2} cycles each", per_op(add, 8));
        let tern = timed!(
            "vpternlogd $0x96, %zmm0, %zmm0, %zmm1", "vpternlogd $0x96, %zmm0, %zmm0, %zmm2",
            "vpternlogd $0x96, %zmm0, %zmm0, %zmm3", "vpternlogd $0x96, %zmm0, %zmm0, %zmm4",
            "vpternlogd $0x96, %zmm0, %zmm0, %zmm5", "vpternlogd $0x96, %zmm0, %zmm0, %zmm6",
            "vpternlogd $0x96, %zmm0, %zmm0, %zmm7", "vpternlogd $0x96, %zmm0, %zmm0, %zmm8",
        );
        println!("vpternlogd zmm      : {:.2} cycles each", per_op(tern, 8));
        let rot = timed!(
            "vprold $5, %zmm1, %zmm1", "vprold $5, %zmm2, %zmm2", "vprold $5, %zmm3, %zmm3",
            "vprold $5, %zmm4, %zmm4", "vprold $5, %zmm5, %zmm5", "vprold $5, %zmm6, %zmm6",
            "vprold $5, %zmm7, %zmm7", "vprold $5, %zmm8, %zmm8",
        );
        println!("vprold zmm          : {:.2} cycles each", per_op(rot, 8));
        let add_bcst = timed!(
            "vpaddd 0(%rsp){{1to16}}, %zmm1, %zmm1", "vpaddd 0(%rsp){{1to16}}, %zmm2, %zmm2",
            "vpaddd 0(%rsp){{1to16}}, %zmm3, %zmm3", "vpaddd 0(%rsp){{1to16}}, %zmm4, %zmm4",
            "vpaddd 0(%rsp){{1to16}}, %zmm5, %zmm5", "vpaddd 0(%rsp){{1to16}}, %zmm6, %zmm6",
            "vpaddd 0(%rsp){{1to16}}, %zmm7, %zmm7", "vpaddd 0(%rsp){{1to16}}, %zmm8, %zmm8",
        );
        println!("vpaddd zmm, m32bcst : {:.2} cycles each", per_op(add_bcst, 8));
        // The adds, each with a copy first (as before a destructive vpternlogd).
        let moves = timed!(
            "vmovdqa64 %zmm1, %zmm17", "vpaddd %zmm0, %zmm17, %zmm1",
            "vmovdqa64 %zmm2, %zmm18", "vpaddd %zmm0, %zmm18, %zmm2",
            "vmovdqa64 %zmm3, %zmm19", "vpaddd %zmm0, %zmm19, %zmm3",
            "vmovdqa64 %zmm4, %zmm20", "vpaddd %zmm0, %zmm20, %zmm4",
            "vmovdqa64 %zmm5, %zmm21", "vpaddd %zmm0, %zmm21, %zmm5",
            "vmovdqa64 %zmm6, %zmm22", "vpaddd %zmm0, %zmm22, %zmm6",
            "vmovdqa64 %zmm7, %zmm23", "vpaddd %zmm0, %zmm23, %zmm7",
            "vmovdqa64 %zmm8, %zmm24", "vpaddd %zmm0, %zmm24, %zmm8",
        );
        println!("vpaddd zmm + a move : {:.2} cycles per add", per_op(moves, 8));
        // One round's mix, twice (independent): 6 rotates, 4 vpternlogd, 6 vpaddd.
        let round = timed!(
            "vprold $26, %zmm1, %zmm9", "vprold $21, %zmm1, %zmm10", "vprold $7, %zmm1, %zmm11",
            "vpternlogd $0x96, %zmm9, %zmm10, %zmm11", "vpternlogd $0xca, %zmm2, %zmm3, %zmm12",
            "vpaddd %zmm11, %zmm12, %zmm12", "vpaddd %zmm0, %zmm12, %zmm12", "vpaddd %zmm4, %zmm12, %zmm4",
            "vprold $30, %zmm5, %zmm13", "vprold $19, %zmm5, %zmm14", "vprold $10, %zmm5, %zmm15",
            "vpternlogd $0x96, %zmm13, %zmm14, %zmm15", "vpternlogd $0xe8, %zmm6, %zmm7, %zmm16",
            "vpaddd %zmm15, %zmm16, %zmm16", "vpaddd %zmm16, %zmm12, %zmm5", "vpaddd %zmm0, %zmm1, %zmm1",
            "vprold $26, %zmm17, %zmm25", "vprold $21, %zmm17, %zmm26", "vprold $7, %zmm17, %zmm27",
            "vpternlogd $0x96, %zmm25, %zmm26, %zmm27", "vpternlogd $0xca, %zmm18, %zmm19, %zmm28",
            "vpaddd %zmm27, %zmm28, %zmm28", "vpaddd %zmm0, %zmm28, %zmm28", "vpaddd %zmm20, %zmm28, %zmm20",
            "vprold $30, %zmm21, %zmm29", "vprold $19, %zmm21, %zmm30", "vprold $10, %zmm21, %zmm31",
            "vpternlogd $0x96, %zmm29, %zmm30, %zmm31", "vpternlogd $0xe8, %zmm22, %zmm23, %zmm24",
            "vpaddd %zmm31, %zmm24, %zmm24", "vpaddd %zmm24, %zmm28, %zmm21", "vpaddd %zmm0, %zmm17, %zmm17",
        );
        println!("a round's mix       : {:.2} cycles per operation (6 vprold, 4 vpternlogd, 6 vpaddd)", per_op(round, 32));
        // The clock while 512-bit operations run: 32 dependent adds (32 cycles) beside 32
        // vector operations (16 cycles at two per cycle), so the adds set the pace.
        let busy = timed!(
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vprold $26, %zmm1, %zmm9", "vprold $21, %zmm1, %zmm10", "vprold $7, %zmm1, %zmm11",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vpternlogd $0x96, %zmm9, %zmm10, %zmm11", "vpternlogd $0xca, %zmm2, %zmm3, %zmm12",
            "vpaddd %zmm11, %zmm12, %zmm12", "vpaddd %zmm0, %zmm12, %zmm12", "vpaddd %zmm4, %zmm12, %zmm4",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vprold $30, %zmm5, %zmm13", "vprold $19, %zmm5, %zmm14", "vprold $10, %zmm5, %zmm15",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vpternlogd $0x96, %zmm13, %zmm14, %zmm15", "vpternlogd $0xe8, %zmm6, %zmm7, %zmm16",
            "vpaddd %zmm15, %zmm16, %zmm16", "vpaddd %zmm16, %zmm12, %zmm5", "vpaddd %zmm0, %zmm1, %zmm1",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vprold $26, %zmm17, %zmm25", "vprold $21, %zmm17, %zmm26", "vprold $7, %zmm17, %zmm27",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vpternlogd $0x96, %zmm25, %zmm26, %zmm27", "vpternlogd $0xca, %zmm18, %zmm19, %zmm28",
            "vpaddd %zmm27, %zmm28, %zmm28", "vpaddd %zmm0, %zmm28, %zmm28", "vpaddd %zmm20, %zmm28, %zmm20",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vprold $30, %zmm21, %zmm29", "vprold $19, %zmm21, %zmm30", "vprold $10, %zmm21, %zmm31",
            "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
            "vpternlogd $0x96, %zmm29, %zmm30, %zmm31", "vpternlogd $0xe8, %zmm22, %zmm23, %zmm24",
            "vpaddd %zmm31, %zmm24, %zmm24", "vpaddd %zmm24, %zmm28, %zmm21", "vpaddd %zmm0, %zmm17, %zmm17",
        );
        println!(
            "clock beside 512-bit operations ≈ {:.2} GHz (32 dependent adds per iteration)",
            32.0 * ITERS as f64 / busy / 1e9
        );
    }
}
