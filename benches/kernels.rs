//! Hash rate of every kernel this CPU runs (`cargo bench`): nonces per second, one thread.

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

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

criterion_group!(benches, kernels);
criterion_main!(benches);
