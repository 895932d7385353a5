// Generated with Python's hashlib (see hash.rs). Do not edit by hand.
pub(crate) const TEXT_VECTORS: &[(u64, &str)] = &[
    (0, "adc61e15d714249a12aa35b04144f49b7923d66525f69f0614253fb80ce845b0"),
    (1, "583ed3df0c320016488a9d9f2020cd6498e894f34ea726b7b434b35228686801"),
    (9, "a0fd8263389d3025d16e2be11d3a254af79b38e988fe4e71e71e486d4c5f0918"),
    (10, "1df183c20acaf6370a30cfe32a200e712d5bf0c369a4ee8062553a641a2c14f7"),
    (99, "047245c152664a35a185cb4ed8e26373e4f1e7550b1062f074346e83836ab3a0"),
    (100, "213c4a8f4922ab02f47c435073cbae902e99d6a95d7d0a80b1deae8864a2ac1d"),
    (12345, "a94b4a6ec32d7e82fda49cc28bb7f45bec9f696b50d9b0ce81e9aee7a334f92a"),
    (999999999, "583e5f84bea5bc009b6f58f55c5d86a2fac33495ca64a36be6e8db43375a1d0d"),
    (4294967295, "f591d7c2544cda4081ecda793cafc940f3e45930599801032d3343ea0f9c43cc"),
    (18446744073709551615, "ec938a3a2e41e57b56851a6392d1b230d73714e8c007d3cf9be167abc0b7e204"),
];
pub(crate) const TEXT_ZERO_BITS: &[(u64, u32, u32)] = &[
    (0, 0, 0),
    (1, 1, 3),
    (9, 0, 5),
    (10, 3, 0),
    (99, 5, 2),
    (100, 2, 0),
    (12345, 0, 0),
    (999999999, 1, 3),
    (4294967295, 0, 0),
    (18446744073709551615, 0, 2),
    (9248, 17, 17),
    (9248, 17, 17),
];
/// Lowest nonce in [0, 2^32) with >= 16 leading zero bits, msb order, block COMSM0010cloud.
#[allow(dead_code)]
pub(crate) const LOWEST_MSB_16: u64 = 9248;
/// Same, lsb order.
#[allow(dead_code)]
pub(crate) const LOWEST_LSB_16: u64 = 9248;
/// Lowest nonce in [0, 2^32) with >= 20 leading zero bits, msb order, block COMSM0010cloud.
#[allow(dead_code)]
pub(crate) const LOWEST_MSB_20: u64 = 505928;
/// Same, lsb order.
#[allow(dead_code)]
pub(crate) const LOWEST_LSB_20: u64 = 263474;
