//! Every kernel against the `sha2` reference.

use std::sync::atomic::AtomicBool;

use proptest::prelude::*;

use super::*;
use crate::hash::tests::*;
use crate::problem::DEFAULT_BLOCK;
use crate::verify::verify;

/// The lowest golden nonce of `range`, by the reference path, one nonce at a time.
fn reference_lowest(problem: &Problem, range: NonceRange) -> Option<u64> {
    (range.start..range.end).find(|n| hash::is_golden(problem, &hash::digest(problem, *n)))
}

/// The kernels to test: the one `CND_KERNEL` names (CI runs the suite once per kernel), or
/// every kernel this CPU runs.
fn under_test() -> Vec<Kernel> {
    match std::env::var("CND_KERNEL") {
        Ok(name) if !name.trim().is_empty() => {
            vec![Kernel::from_name(&name).unwrap_or_else(|e| panic!("CND_KERNEL: {e}"))]
        }
        _ => Kernel::available(),
    }
}

/// The output word (0 for text, 7 for Bitcoin) of every nonce of `range`, by the reference.
fn reference_words(problem: &Problem, range: NonceRange) -> Vec<u32> {
    let word = match problem.format() {
        Format::Text => 0,
        Format::Bitcoin => 7,
    };
    (range.start..range.end)
        .map(|n| {
            let d = hash::digest(problem, n);
            u32::from_be_bytes(d[4 * word..4 * word + 4].try_into().unwrap())
        })
        .collect()
}

/// Every kernel computes, for every nonce, the same output word as the reference.
fn words_agree(problem: &Problem, range: NonceRange) -> Result<(), TestCaseError> {
    let want = reference_words(problem, range);
    let prepared = Prepared::new(problem);
    for kernel in under_test() {
        let got = kernel.output_words(&prepared, range);
        prop_assert_eq!(got.len(), want.len(), "kernel {} on {:?} over {}", kernel, problem, range);
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            prop_assert!(
                false,
                "kernel {} on {:?}: nonce {} gives {:08x}, reference {:08x}",
                kernel,
                problem,
                range.start + i as u64,
                got[i],
                want[i]
            );
        }
    }
    Ok(())
}

fn all_agree(problem: &Problem, range: NonceRange) -> Result<(), TestCaseError> {
    let want = reference_lowest(problem, range);
    let prepared = Prepared::new(problem);
    for kernel in under_test() {
        let scan = kernel.scan(&prepared, range, &AtomicBool::new(false));
        prop_assert_eq!(scan.golden, want, "kernel {} on {:?} over {}", kernel, problem, range);
        if want.is_none() {
            prop_assert_eq!(scan.hashes, range.len(), "kernel {} hash count", kernel);
        }
    }
    Ok(())
}

fn bit_order() -> impl Strategy<Value = BitOrder> {
    prop_oneof![Just(BitOrder::Msb), Just(BitOrder::Lsb)]
}

/// Starts near powers of ten (digit-count changes) as often as anywhere else.
fn start() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..u64::MAX - 5000, (1u32..20, 0u64..3000).prop_map(|(p, back)| 10u64.pow(p).saturating_sub(back)),]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn text_kernels_match_reference(
        block in proptest::collection::vec(any::<u8>(), 0..200),
        d in 0u32..9,
        order in bit_order(),
        start in start(),
        len in 1u64..3000,
    ) {
        let problem = Problem::text(block, d).unwrap().with_bit_order(order);
        let range = NonceRange::new(start, start.saturating_add(len)).unwrap();
        all_agree(&problem, range)?;
    }

    #[test]
    fn bitcoin_kernels_match_reference(
        header in proptest::collection::vec(any::<u8>(), 80),
        d in 0u32..9,
        order in bit_order(),
        start in 0u64..(1u64 << 32) - 3000,
        len in 1u64..3000,
    ) {
        let problem = Problem::bitcoin(&header, Some(d)).unwrap().with_bit_order(order);
        let range = NonceRange::new(start, start + len).unwrap();
        all_agree(&problem, range)?;
    }

    #[test]
    fn text_kernels_compute_reference_digests(
        block in proptest::collection::vec(any::<u8>(), 0..200),
        start in start(),
        len in 1u64..400,
    ) {
        let problem = Problem::text(block, 0).unwrap();
        let range = NonceRange::new(start, start.saturating_add(len)).unwrap();
        words_agree(&problem, range)?;
    }

    #[test]
    fn bitcoin_kernels_compute_reference_digests(
        header in proptest::collection::vec(any::<u8>(), 80),
        start in prop_oneof![0u64..(1u64 << 32) - 400, Just((1u64 << 32) - 400)],
        len in 1u64..400,
    ) {
        let problem = Problem::bitcoin(&header, Some(0)).unwrap();
        let range = NonceRange::new(start, start + len).unwrap();
        words_agree(&problem, range)?;
    }
}

/// Block lengths that put the last digits at every word position and block layout: one
/// block, two blocks with the window in the first, straddling the blocks, or in the second.
const TAIL_LENGTHS: [usize; 16] = [0, 1, 2, 3, 4, 13, 14, 30, 44, 47, 52, 55, 60, 63, 64, 127];

#[test]
fn every_kernel_crosses_every_power_of_ten() {
    for tail_len in TAIL_LENGTHS {
        let block: Vec<u8> = (0..tail_len).map(|i| (i * 37 + 11) as u8).collect();
        let problem = Problem::text(block, 0).unwrap();
        for p in 1..=19u32 {
            let ten = 10u64.pow(p);
            let range = NonceRange::new(ten.saturating_sub(37), ten + 37).unwrap();
            words_agree(&problem, range).unwrap();
        }
        words_agree(&problem, NonceRange::new(0, 150).unwrap()).unwrap();
        words_agree(&problem, NonceRange::new(u64::MAX - 70, u64::MAX).unwrap()).unwrap();
    }
}

#[test]
fn every_kernel_handles_run_and_batch_edges() {
    // A run ends where the window's digits wrap (multiples of 10^5 .. 10^8); a batch at
    // every lane count; chunk edges of the local engine (2^18).
    let problem = Problem::text(DEFAULT_BLOCK, 0).unwrap();
    for start in [99_990u64, 999_999_990, 1_234_499_995, 4_294_967_280, (1 << 18) - 9, 3 << 18] {
        for len in [1u64, 2, 7, 8, 9, 15, 16, 17, 31, 33] {
            words_agree(&problem, NonceRange::new(start, start + len).unwrap()).unwrap();
        }
        words_agree(&problem, NonceRange::new(start, start + 300).unwrap()).unwrap();
    }
    let header = GENESIS_HEADER_BYTES();
    let problem = Problem::bitcoin(&header, Some(0)).unwrap();
    for start in [0u64, (1 << 18) - 5, (1 << 32) - 33] {
        for len in [1u64, 7, 8, 9, 16, 17, 33] {
            words_agree(&problem, NonceRange::new(start, start + len).unwrap()).unwrap();
        }
    }
}

#[test]
fn every_kernel_finds_the_same_lowest_as_portable() {
    let mut problems = vec![];
    for tail_len in TAIL_LENGTHS {
        let block: Vec<u8> = (0..tail_len).map(|i| b'a' + (i % 26) as u8).collect();
        for order in [BitOrder::Msb, BitOrder::Lsb] {
            problems.push((Problem::text(block.clone(), 11).unwrap().with_bit_order(order), 99_000u64));
        }
    }
    for order in [BitOrder::Msb, BitOrder::Lsb] {
        problems.push((Problem::bitcoin(&GENESIS_HEADER_BYTES(), Some(12)).unwrap().with_bit_order(order), 0));
    }
    for (problem, start) in problems {
        let prepared = Prepared::new(&problem);
        let range = NonceRange::new(start, start + 200_000).unwrap();
        let want = Kernel::Portable.scan(&prepared, range, &AtomicBool::new(false));
        assert!(want.golden.is_some(), "{problem:?}");
        for kernel in under_test() {
            let got = kernel.scan(&prepared, range, &AtomicBool::new(false));
            assert_eq!(got.golden, want.golden, "kernel {kernel} on {problem:?}");
            assert!(got.hashes >= want.hashes && got.hashes < want.hashes + 16, "kernel {kernel} hashes");
        }
    }
}

#[test]
fn every_kernel_finds_the_known_lowest_nonces() {
    for (order, d, want) in [
        (BitOrder::Msb, 16, LOWEST_MSB_16),
        (BitOrder::Lsb, 16, LOWEST_LSB_16),
        (BitOrder::Msb, 20, LOWEST_MSB_20),
        (BitOrder::Lsb, 20, LOWEST_LSB_20),
    ] {
        let problem = Problem::text("COMSM0010cloud", d).unwrap().with_bit_order(order);
        let prepared = Prepared::new(&problem);
        for kernel in under_test() {
            let scan = kernel.scan(&prepared, NonceRange::new(0, 1 << 32).unwrap(), &AtomicBool::new(false));
            assert_eq!(scan.golden, Some(want), "kernel {kernel}, {order:?} D={d}");
            assert!(verify(&problem, want).is_valid());
        }
    }
}

#[test]
fn every_kernel_finds_the_genesis_nonce() {
    let problem = Problem::bitcoin(&GENESIS_HEADER_BYTES(), None).unwrap();
    let prepared = Prepared::new(&problem);
    let range = NonceRange::new(2083236893 - 5000, 2083236893 + 5000).unwrap();
    for kernel in under_test() {
        let scan = kernel.scan(&prepared, range, &AtomicBool::new(false));
        assert_eq!(scan.golden, Some(2083236893), "kernel {kernel}");
    }
}

#[test]
fn every_kernel_stops_when_asked() {
    let problem = Problem::text("COMSM0010cloud", 256).unwrap();
    let prepared = Prepared::new(&problem);
    for kernel in under_test() {
        let scan = kernel.scan(&prepared, NonceRange::new(0, 1 << 40).unwrap(), &AtomicBool::new(true));
        assert!(scan.stopped, "kernel {kernel}");
        assert!(scan.hashes < 1 << 20, "kernel {kernel} went on for {} hashes", scan.hashes);
    }
}

#[test]
fn digit_segments_split_at_powers_of_ten() {
    let segs: Vec<_> = digit_segments(NonceRange::new(8, 1001).unwrap()).collect();
    assert_eq!(
        segs,
        vec![
            (NonceRange { start: 8, end: 10 }, 1),
            (NonceRange { start: 10, end: 100 }, 2),
            (NonceRange { start: 100, end: 1000 }, 3),
            (NonceRange { start: 1000, end: 1001 }, 4),
        ]
    );
    let top: Vec<_> = digit_segments(NonceRange::new(u64::MAX - 2, u64::MAX).unwrap()).collect();
    assert_eq!(top, vec![(NonceRange { start: u64::MAX - 2, end: u64::MAX }, 20)]);
}

#[test]
fn unknown_or_unavailable_kernel_names_the_choices() {
    let e = Kernel::from_name("sse9").unwrap_err();
    assert!(e.to_string().contains("portable"), "{e}");
    assert_eq!(Kernel::from_name("portable").unwrap(), Kernel::Portable);
    for kernel in Kernel::ALL {
        assert!(e.to_string().contains(kernel.name()), "{e}");
        match Kernel::from_name(kernel.name()) {
            Ok(k) => assert!(k == *kernel && k.is_available()),
            Err(e) => {
                assert!(!kernel.is_available());
                assert!(e.to_string().contains("portable"), "{e}");
            }
        }
    }
    // Names are read trimmed and in any case: " SHA-NI " is sha-ni, run here or refused
    // as unavailable, never an unknown name.
    match Kernel::from_name(" SHA-NI ") {
        Ok(k) => assert_eq!(k, Kernel::ShaNi),
        Err(e) => assert!(
            matches!(e, KernelError::Unavailable { name: "sha-ni", .. }) && !Kernel::ShaNi.is_available(),
            "{e:?}"
        ),
    }
}

#[test]
fn the_best_kernel_is_available() {
    let best = Kernel::best();
    assert!(best.is_available());
    assert!(best != Kernel::Portable || Kernel::available().len() == 1, "{}", Kernel::choice().why());
    assert!(Kernel::best_for(Format::Text).is_available() && Kernel::best_for(Format::Bitcoin).is_available());
    #[cfg(not(target_arch = "x86_64"))]
    assert_eq!(best, Kernel::Portable);
}

#[cfg(target_os = "linux")]
#[test]
fn thread_cpu_seconds_counts_this_threads_work() {
    let before = thread_cpu_seconds().expect("schedstat on Linux");
    let wall = std::time::Instant::now();
    let mut x = 1u64;
    while wall.elapsed().as_secs_f64() < 0.2 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    let wall = wall.elapsed().as_secs_f64();
    let spent = thread_cpu_seconds().expect("schedstat on Linux") - before;
    // Seconds, at most the wall time (a busy machine may give this thread less).
    assert!(spent > 0.01 * wall && spent <= wall + 0.01, "{spent} CPU seconds in {wall} s");
    // A new thread's clock has not counted this thread's work.
    let other = std::thread::spawn(thread_cpu_seconds).join().unwrap().expect("schedstat in a new thread");
    assert!(other < spent, "new thread {other} s, this thread {spent} s");
}

/// The probe measures slices of about 16 ms: its clock must be much finer than that (a
/// scheduler tick, which `/proc/thread-self/schedstat` advances by, is 4 ms here).
#[cfg(unix)]
#[test]
fn thread_cpu_seconds_is_fine_grained() {
    let mut steps = vec![];
    let mut last = thread_cpu_seconds().expect("CPU time on Unix");
    while steps.len() < 11 {
        let now = thread_cpu_seconds().expect("CPU time on Unix");
        if now > last {
            steps.push(now - last);
            last = now;
        }
    }
    steps.sort_by(f64::total_cmp);
    assert!(steps[5] < 1e-4, "median step {} s: {steps:?}", steps[5]);
}

/// Rough rates per CPU-second of every kernel (and SHA-NI stream counts): a tuning aid,
/// `cargo test -p cnd-core --release kernel_speed -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test"]
fn kernel_speed() {
    let problems = [
        ("text", Problem::text(DEFAULT_BLOCK, 256).unwrap(), 1_000_000_000u64),
        ("bitcoin", Problem::bitcoin(&GENESIS_HEADER_BYTES(), Some(256)).unwrap(), 0),
    ];
    type ScanFn = Box<dyn Fn(&Prepared, NonceRange) -> Scan>;
    let stop = AtomicBool::new(false);
    let mut variants: Vec<(String, ScanFn)> = vec![];
    for kernel in Kernel::available() {
        let stop = &stop as *const AtomicBool as usize;
        variants.push((
            kernel.name().into(),
            Box::new(move |p, r| {
                // SAFETY: `stop` outlives the variants.
                kernel.scan(p, r, unsafe { &*(stop as *const AtomicBool) })
            }),
        ));
    }
    #[cfg(target_arch = "x86_64")]
    if Kernel::ShaNi.is_available() {
        // SAFETY: SHA-NI is available.
        variants.push((
            "sha-ni/3".into(),
            Box::new(|p, r| unsafe { sha_ni::scan_streams::<3>(p, r, &AtomicBool::new(false)) }),
        ));
        variants.push((
            "sha-ni/2".into(),
            Box::new(|p, r| unsafe { sha_ni::scan_streams::<2>(p, r, &AtomicBool::new(false)) }),
        ));
    }
    for (format, problem, start) in &problems {
        let prepared = Prepared::new(problem);
        for (name, scan) in &variants {
            let mut best = 0f64;
            for rep in 0..3u64 {
                let range = NonceRange::new(start + rep * (1 << 24), start + (rep + 1) * (1 << 24)).unwrap();
                let c0 = thread_cpu_seconds().expect("CPU time (Linux)");
                let s = scan(&prepared, range);
                let rate = s.hashes as f64 / (thread_cpu_seconds().expect("CPU time") - c0);
                best = best.max(rate);
            }
            println!("{format:<8} {name:<18} {:>7.2} M nonces per CPU-second", best / 1e6);
        }
    }
}

/// What bounds the SHA-NI kernel on this CPU, in cycles: the latency of `sha256rnds2` and the
/// rate at which it issues with 1, 2 and 4 independent chains, then the cost of a legacy SSE
/// instruction after a 256-bit one has dirtied the upper halves (why no kernel mixes SHA-NI
/// with AVX2/AVX-512 lanes in one loop). Cycles come from a chain of dependent `add`s (1 cycle
/// each). `cargo test -p cnd-core --release sha_ni_port_limits -- --ignored --nocapture`
#[cfg(target_arch = "x86_64")]
#[test]
#[ignore = "a measurement, not a test"]
fn sha_ni_port_limits() {
    use std::arch::asm;
    use std::time::Instant;

    const ITERS: u64 = 20_000_000;
    fn seconds(f: impl Fn()) -> f64 {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    }
    // 8 dependent adds per iteration.
    let adds = seconds(|| unsafe {
        asm!("2:", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}",
             "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "add {x}, {x}", "dec {n}", "jnz 2b",
             n = inout(reg) ITERS => _, x = inout(reg) 1u64 => _, options(nostack));
    });
    let hz = 8.0 * ITERS as f64 / adds;
    println!("clock ≈ {:.2} GHz (dependent adds)", hz / 1e9);
    if !Kernel::ShaNi.is_available() {
        println!("no SHA-NI on this CPU");
        return;
    }
    // Cycles per one of `count` instructions (or iterations) that took `s` seconds.
    let cycles = |s: f64, count: u64| s * hz / count as f64;
    // SAFETY (the asm blocks below): the CPU has SHA-NI; registers are declared clobbered.
    let one = seconds(|| unsafe {
        asm!("2:", "sha256rnds2 %xmm0, %xmm2, %xmm1", "sha256rnds2 %xmm0, %xmm1, %xmm2",
             "sha256rnds2 %xmm0, %xmm2, %xmm1", "sha256rnds2 %xmm0, %xmm1, %xmm2", "dec {n}", "jnz 2b",
             n = inout(reg) ITERS => _, out("xmm0") _, out("xmm1") _, out("xmm2") _, options(att_syntax, nostack));
    });
    println!("sha256rnds2, 1 chain : {:.2} cycles each (latency)", cycles(one, 4 * ITERS));
    let two = seconds(|| unsafe {
        asm!("2:", "sha256rnds2 %xmm0, %xmm2, %xmm1", "sha256rnds2 %xmm0, %xmm4, %xmm3",
             "sha256rnds2 %xmm0, %xmm1, %xmm2", "sha256rnds2 %xmm0, %xmm3, %xmm4", "dec {n}", "jnz 2b",
             n = inout(reg) ITERS => _, out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _,
             options(att_syntax, nostack));
    });
    println!("sha256rnds2, 2 chains: {:.2} cycles each", cycles(two, 4 * ITERS));
    let four = seconds(|| unsafe {
        asm!("2:", "sha256rnds2 %xmm0, %xmm2, %xmm1", "sha256rnds2 %xmm0, %xmm4, %xmm3",
             "sha256rnds2 %xmm0, %xmm6, %xmm5", "sha256rnds2 %xmm0, %xmm8, %xmm7",
             "sha256rnds2 %xmm0, %xmm1, %xmm2", "sha256rnds2 %xmm0, %xmm3, %xmm4",
             "sha256rnds2 %xmm0, %xmm5, %xmm6", "sha256rnds2 %xmm0, %xmm7, %xmm8", "dec {n}", "jnz 2b",
             n = inout(reg) ITERS => _, out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _,
             out("xmm5") _, out("xmm6") _, out("xmm7") _, out("xmm8") _, options(att_syntax, nostack));
    });
    let issue = cycles(four, 8 * ITERS);
    println!("sha256rnds2, 4 chains: {issue:.2} cycles each (issue rate)");
    println!(
        "=> a nonce's 64 rounds x 2 compressions = 64 sha256rnds2 take >= {:.0} cycles: at most {:.2} M nonces/s",
        64.0 * issue,
        hz / (64.0 * issue) / 1e6
    );
    if is_x86_feature_detected!("avx2") {
        // Fewer iterations: without the vzeroupper, each is slow.
        const MIXED_ITERS: u64 = ITERS / 100;
        let clean = seconds(|| unsafe {
            asm!("2:", "vpaddd %ymm9, %ymm9, %ymm9", "vzeroupper", "sha256rnds2 %xmm0, %xmm2, %xmm1",
                 "sha256rnds2 %xmm0, %xmm4, %xmm3", "dec {n}", "jnz 2b",
                 n = inout(reg) MIXED_ITERS => _, out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                 out("xmm4") _, out("xmm9") _, options(att_syntax, nostack));
        });
        let dirty = seconds(|| unsafe {
            asm!("2:", "vpaddd %ymm9, %ymm9, %ymm9", "sha256rnds2 %xmm0, %xmm2, %xmm1",
                 "sha256rnds2 %xmm0, %xmm4, %xmm3", "dec {n}", "jnz 2b",
                 n = inout(reg) MIXED_ITERS => _, out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                 out("xmm4") _, out("xmm9") _, options(att_syntax, nostack));
            asm!("vzeroupper", options(nostack));
        });
        println!(
            "1 vpaddd ymm, then 2 sha256rnds2: {:.1} cycles with a vzeroupper between, {:.1} without",
            cycles(clean, MIXED_ITERS),
            cycles(dirty, MIXED_ITERS)
        );
    }
}
