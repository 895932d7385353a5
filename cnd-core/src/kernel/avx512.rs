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
