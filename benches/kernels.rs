//! Hash rate of every kernel this CPU runs (`cargo bench -p cnd --bench kernels`): nonces per
//! CPU-second of one thread, text (default block, 10-digit nonces) and Bitcoin (genesis
//! header).
//!
//! This measures exactly what `cnd bench` reports in its "per CPU-second" column, one thread:
//! the same problems and nonces ([`cnd::measure_problem`], [`cnd::measure_range`]), the same
//! loop over the same chunks of 2^16 nonces ([`cnd::scan_chunks`]) and the same clock, the
//! thread's CPU time (criterion is handed it through `iter_custom`; one iteration is one
//! chunk). Only the statistics differ: criterion's estimate over its samples against `cnd
//! bench`'s hashes over CPU-seconds. `docs/performance.md` ("cargo bench and cnd bench") shows
//! the two side by side.
//!
//! The `bound` group measures, in the same run, the single-stream SHA-256 bound the kernel
//! goals are stated against: `sha2`'s compression function over a long buffer (it uses SHA-NI
//! where the CPU has it, as `openssl speed -evp sha256` does), counted as nonces at two
//! compressions per nonce. Compare each kernel's rate with it as a ratio.

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use cnd::{Format, Kernel, MEASURE_CHUNK, Prepared, measure_problem, measure_range, scan_chunks, thread_cpu_seconds};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// CPU time of this thread (wall-clock time where the platform does not say).
fn cpu_clock() -> impl Fn() -> Duration {
    let wall = Instant::now();
    move || thread_cpu_seconds().map_or_else(|| wall.elapsed(), Duration::from_secs_f64)
}

fn kernels(c: &mut Criterion) {
    for format in [Format::Text, Format::Bitcoin] {
        let prepared = Prepared::new(&measure_problem(format));
        let range = measure_range(format);
        let mut group = c.benchmark_group(format!("kernel/{}", format.as_str()));
        group.throughput(Throughput::Elements(MEASURE_CHUNK));
        for kernel in Kernel::available() {
            let next = AtomicU64::new(0);
            group.bench_function(kernel.name(), |b| {
                b.iter_custom(|iters| {
                    let clock = cpu_clock();
                    let t0 = clock();
                    let mut left = iters;
                    black_box(scan_chunks(kernel, &prepared, range, &next, || {
                        left = left.wrapping_sub(1);
                        left != u64::MAX
                    }));
                    clock() - t0
                })
            });
        }
        group.finish();
    }
}

/// The single-stream bound: one long message through `sha2`'s compression function.
fn bound(c: &mut Criterion) {
    const BLOCKS: usize = 16384 / 64;
    let blocks = vec![[0x5au8; 64]; BLOCKS];
    let mut group = c.benchmark_group("bound");
    // Two compressions per nonce.
    group.throughput(Throughput::Elements(BLOCKS as u64 / 2));
    group.bench_function("sha2-single-stream", |b| {
        let mut state =
            [0x6a09e667u32, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        b.iter_custom(|iters| {
            let clock = cpu_clock();
            let t0 = clock();
            for _ in 0..iters {
                sha2::block_api::compress256(&mut state, black_box(&blocks));
            }
            black_box(state);
            clock() - t0
        })
    });
    group.finish();
}

criterion_group!(benches, bound, kernels);
criterion_main!(benches);
