//! The AVX2 kernel: 8 nonces per instruction in 32-bit lanes, for CPUs without AVX-512 or
//! SHA-NI. Rotations are two shifts and an OR; the SHA-256 code is the shared lane engine
//! (`simd.rs`), compiled here with `avx2`.

use std::arch::x86_64::*;

use super::simd::{self, Lanes};

/// True when this CPU can run the kernel.
pub(super) fn is_available() -> bool {
    is_x86_feature_detected!("avx2")
}

// `scan` and `words`, compiled with the features `__m256i`'s `Lanes` needs.
simd::trampolines!(entry_points, "avx2", simd::drive::<__m256i, _>);

macro_rules! ror {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(_mm256_srli_epi32::<$n>($x), _mm256_slli_epi32::<{ 32 - $n }>($x))
    };
}

// SAFETY: every method is called only by the kernel above, after `is_available`.
unsafe impl Lanes for __m256i {
    const N: usize = 8;

    #[inline(always)]
    unsafe fn splat(x: u32) -> Self {
        unsafe { _mm256_set1_epi32(x as i32) }
    }
    #[inline(always)]
    unsafe fn load(x: &[u32; 16]) -> Self {
        unsafe { _mm256_loadu_si256(x.as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn store(self, x: &mut [u32; 16]) {
        unsafe { _mm256_storeu_si256(x.as_mut_ptr().cast(), self) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm256_add_epi32(self, b) }
    }
    #[inline(always)]
    unsafe fn big_sigma0(self) -> Self {
        unsafe { _mm256_xor_si256(_mm256_xor_si256(ror!(self, 2), ror!(self, 13)), ror!(self, 22)) }
    }
    #[inline(always)]
    unsafe fn big_sigma1(self) -> Self {
        unsafe { _mm256_xor_si256(_mm256_xor_si256(ror!(self, 6), ror!(self, 11)), ror!(self, 25)) }
    }
    #[inline(always)]
    unsafe fn small_sigma0(self) -> Self {
        unsafe { _mm256_xor_si256(_mm256_xor_si256(ror!(self, 7), ror!(self, 18)), _mm256_srli_epi32::<3>(self)) }
    }
    #[inline(always)]
    unsafe fn small_sigma1(self) -> Self {
        unsafe { _mm256_xor_si256(_mm256_xor_si256(ror!(self, 17), ror!(self, 19)), _mm256_srli_epi32::<10>(self)) }
    }
    #[inline(always)]
    unsafe fn ch(e: Self, f: Self, g: Self) -> Self {
        // g ^ (e & (f ^ g))
        unsafe { _mm256_xor_si256(g, _mm256_and_si256(e, _mm256_xor_si256(f, g))) }
    }
    #[inline(always)]
    unsafe fn maj(a: Self, b: Self, _c: Self, bc: Self) -> Self {
        // b ^ ((a ^ b) & (b ^ c)); a ^ b is computed anyway for the next round.
        unsafe { _mm256_xor_si256(b, _mm256_and_si256(_mm256_xor_si256(a, b), bc)) }
    }
    #[inline(always)]
    unsafe fn xor(self, b: Self) -> Self {
        unsafe { _mm256_xor_si256(self, b) }
    }
    #[inline(always)]
    unsafe fn zero_lanes(self, mask: Self) -> u32 {
        unsafe {
            let zero = _mm256_cmpeq_epi32(_mm256_and_si256(self, mask), _mm256_setzero_si256());
            _mm256_movemask_ps(_mm256_castsi256_ps(zero)) as u32
        }
    }
    // `run`, compiled with the same features.
    simd::trampolines!(lanes_run, "avx2");
}
