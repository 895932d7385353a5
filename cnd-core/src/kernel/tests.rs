//! Every kernel against the `sha2` reference.

use std::sync::atomic::AtomicBool;

use proptest::prelude::*;

use super::*;
use crate::hash::tests::*;
use crate::verify::verify;

/// The lowest golden nonce of `range`, by the reference path, one nonce at a time.
fn reference_lowest(problem: &Problem, range: NonceRange) -> Option<u64> {
    (range.start..range.end).find(|n| hash::is_golden(problem, &hash::digest(problem, *n)))
}

fn all_agree(problem: &Problem, range: NonceRange) -> Result<(), TestCaseError> {
    let want = reference_lowest(problem, range);
    let prepared = Prepared::new(problem);
    for kernel in Kernel::available() {
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
        for kernel in Kernel::available() {
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
    for kernel in Kernel::available() {
        let scan = kernel.scan(&prepared, range, &AtomicBool::new(false));
        assert_eq!(scan.golden, Some(2083236893), "kernel {kernel}");
    }
}

#[test]
fn every_kernel_stops_when_asked() {
    let problem = Problem::text("COMSM0010cloud", 256).unwrap();
    let prepared = Prepared::new(&problem);
    for kernel in Kernel::available() {
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
}
