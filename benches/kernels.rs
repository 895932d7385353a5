//! Hash rate of every kernel this CPU runs (`cargo bench -p cnd --bench kernels`): nonces per
//! second, one thread, text (default block, 10-digit nonces) and Bitcoin (genesis header).
//!
//! The `bound` group measures, in the same run, the single-stream SHA-256 bound the kernel
//! goals are stated against: `sha2`'s compression function over a long buffer (it uses SHA-NI
//! where the CPU has it, as `openssl speed -evp sha256` does), counted as nonces at two
//! compressions per nonce. Compare each kernel's rate with it as a ratio.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;

use cnd::{Kernel, NonceRange, Prepared, Problem};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

fn kernels(c: &mut Criterion) {
    const N: u64 = 1 << 16;
    let problems = [
        ("text", Problem::text(cnd::DEFAULT_BLOCK, 256).unwrap()),
        ("bitcoin", Problem::bitcoin(&hex_decode(GENESIS), Some(256)).unwrap()),
    ];
    for (format, problem) in problems {
        let prepared = Prepared::new(&problem);
        let mut group = c.benchmark_group(format!("kernel/{format}"));
        group.throughput(Throughput::Elements(N));
        for kernel in Kernel::available() {
            let stop = AtomicBool::new(false);
            let mut start = 1_000_000_000u64;
            group.bench_function(kernel.name(), |b| {
                b.iter(|| {
                    let range = NonceRange::new(start, start + N).unwrap();
                    start += N;
                    if start > 3_000_000_000 {
                        start = 1_000_000_000;
                    }
                    black_box(kernel.scan(&prepared, range, &stop))
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
        b.iter(|| {
            sha2::block_api::compress256(&mut state, black_box(&blocks));
            black_box(state)
        })
    });
    group.finish();
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

criterion_group!(benches, bound, kernels);
criterion_main!(benches);
