//! The problem: what is hashed, and what makes a digest golden.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The block of the reference system, the embedded default.
pub const DEFAULT_BLOCK: &str = "COMSM0010cloud";

/// Length of a Bitcoin block header in bytes.
pub const BITCOIN_HEADER_LEN: usize = 80;

/// The largest difficulty: every bit of a 256-bit digest is zero.
pub const MAX_DIFFICULTY: u32 = 256;

/// An invalid problem: names the field and the values it allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProblemError {
    /// The field (as the CLI flag names it, without dashes): `difficulty`, `block-hex`, ...
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ProblemError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

type Result<T, E = ProblemError> = std::result::Result<T, E>;

/// How a nonce becomes a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Block bytes followed by the decimal ASCII digits of the nonce (the reference system's).
    Text,
    /// An 80-byte Bitcoin block header whose bytes 76..80 hold the nonce, little-endian.
    Bitcoin,
}

impl Format {
    /// The name used by the CLI and the environment (`text`, `bitcoin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Bitcoin => "bitcoin",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = ProblemError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Format::Text),
            "bitcoin" => Ok(Format::Bitcoin),
            _ => Err(ProblemError::new("format", format!("'{s}' is not a format (allowed: text, bitcoin)"))),
        }
    }
}

/// Which bit of a digest byte counts first when leading zero bits are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitOrder {
    /// Most significant bit first: what a person reads in the hex digest.
    #[default]
    Msb,
    /// Bit 0 of each byte first, byte by byte: the reference system's order.
    Lsb,
}

impl BitOrder {
    /// The name used by the CLI and the environment (`msb`, `lsb`).
    pub fn as_str(self) -> &'static str {
        match self {
            BitOrder::Msb => "msb",
            BitOrder::Lsb => "lsb",
        }
    }
}

impl std::str::FromStr for BitOrder {
    type Err = ProblemError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "msb" => Ok(BitOrder::Msb),
            "lsb" => Ok(BitOrder::Lsb),
            _ => Err(ProblemError::new("bit-order", format!("'{s}' is not a bit order (allowed: msb, lsb)"))),
        }
    }
}

/// A half-open range of nonces `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NonceRange {
    /// First nonce of the range.
    pub start: u64,
    /// One past the last nonce of the range.
    pub end: u64,
}

impl NonceRange {
    /// The default range `[0, 2^32)`.
    pub const DEFAULT: NonceRange = NonceRange { start: 0, end: 1 << 32 };

    /// A range `[start, end)`; `start` must be below `end`.
    pub fn new(start: u64, end: u64) -> Result<Self> {
        if start >= end {
            return Err(ProblemError::new(
                "start",
                format!("the range [{start}, {end}) is empty (allowed: start < end)"),
            ));
        }
        Ok(Self { start, end })
    }

    /// Number of nonces in the range.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True when the range holds no nonce.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// True when `nonce` lies in the range.
    pub fn contains(&self, nonce: u64) -> bool {
        self.start <= nonce && nonce < self.end
    }
}

impl Default for NonceRange {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for NonceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// What makes a digest golden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Goal {
    /// At least this many leading zero bits (0..=256), counted in the problem's bit order.
    /// For a Bitcoin header they are counted on the digest read as a little-endian number
    /// (the reversed digest), as block explorers show it.
    LeadingZeros(u32),
    /// Bitcoin: the digest read as a little-endian 256-bit number is at most this target
    /// (stored big-endian), decoded from the header's nBits.
    Target([u8; 32]),
}

/// A validated search problem: format, block, goal, bit order and nonce range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    format: Format,
    block: Vec<u8>,
    goal: Goal,
    bit_order: BitOrder,
    range: NonceRange,
}

fn check_difficulty(difficulty: u32) -> Result<u32> {
    if difficulty > MAX_DIFFICULTY {
        return Err(ProblemError::new(
            "difficulty",
            format!("{difficulty} is out of range (allowed: 0..=256 leading zero bits)"),
        ));
    }
    Ok(difficulty)
}

impl Problem {
    /// The text format: `block ++ decimal(nonce)`, at least `difficulty` leading zero bits.
    pub fn text(block: impl Into<Vec<u8>>, difficulty: u32) -> Result<Self> {
        Ok(Self {
            format: Format::Text,
            block: block.into(),
            goal: Goal::LeadingZeros(check_difficulty(difficulty)?),
            bit_order: BitOrder::Msb,
            range: NonceRange::DEFAULT,
        })
    }

    /// The Bitcoin format: an 80-byte header. Without `difficulty` the goal is the target
    /// decoded from the header's nBits (bytes 72..76).
    pub fn bitcoin(header: &[u8], difficulty: Option<u32>) -> Result<Self> {
        if header.len() != BITCOIN_HEADER_LEN {
            return Err(ProblemError::new(
                "bitcoin-header",
                format!("a header is 80 bytes (160 hex digits), got {} bytes", header.len()),
            ));
        }
        let goal = match difficulty {
            Some(d) => Goal::LeadingZeros(check_difficulty(d)?),
            None => {
                let bits = u32::from_le_bytes(header[72..76].try_into().expect("4 bytes"));
                Goal::Target(decode_nbits(bits)?)
            }
        };
        Ok(Self {
            format: Format::Bitcoin,
            block: header.to_vec(),
            goal,
            bit_order: BitOrder::Msb,
            range: NonceRange::DEFAULT,
        })
    }

    /// A problem from its parts, as the worker env contract carries them.
    pub fn from_parts(format: Format, block: Vec<u8>, difficulty: Option<u32>) -> Result<Self> {
        match format {
            Format::Text => {
                let d = difficulty.ok_or_else(|| {
                    ProblemError::new("difficulty", "required for the text format (allowed: 0..=256)")
                })?;
                Self::text(block, d)
            }
            Format::Bitcoin => Self::bitcoin(&block, difficulty),
        }
    }

    /// The same problem over another nonce range. A Bitcoin nonce is a u32, so its range
    /// must lie within `[0, 2^32)`.
    pub fn with_range(mut self, range: NonceRange) -> Result<Self> {
        if range.is_empty() {
            return Err(ProblemError::new("start", format!("the range {range} is empty (allowed: start < end)")));
        }
        if self.format == Format::Bitcoin && range.end > 1 << 32 {
            return Err(ProblemError::new(
                "end",
                format!("a Bitcoin nonce is a u32: end {} is above 2^32 (allowed: end <= 4294967296)", range.end),
            ));
        }
        self.range = range;
        Ok(self)
    }

    /// The same problem with another bit order.
    pub fn with_bit_order(mut self, bit_order: BitOrder) -> Self {
        self.bit_order = bit_order;
        self
    }

    /// The message format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The block bytes (text) or the 80-byte header (Bitcoin).
    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// What makes a digest golden.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// The difficulty in leading zero bits, if the goal is one.
    pub fn difficulty(&self) -> Option<u32> {
        match self.goal {
            Goal::LeadingZeros(d) => Some(d),
            Goal::Target(_) => None,
        }
    }

    /// The bit order for counting leading zero bits.
    pub fn bit_order(&self) -> BitOrder {
        self.bit_order
    }

    /// The nonce range searched.
    pub fn range(&self) -> NonceRange {
        self.range
    }

    /// Base-2 logarithm of the probability that one nonce is golden (−D, or
    /// log2((target + 1) / 2^256)). Kept as a logarithm so that D = 256 does not underflow.
    pub fn log2_probability(&self) -> f64 {
        match self.goal {
            Goal::LeadingZeros(d) => -f64::from(d),
            Goal::Target(t) => {
                // (target + 1) / 2^256, computed from the top 64 significant bits.
                let lz = leading_zeros_be(&t);
                if lz == 256 {
                    return -256.0;
                }
                let mut top: f64 = 0.0;
                for (i, byte) in t.iter().enumerate() {
                    top += f64::from(*byte) * 2f64.powi(8 * (31 - i as i32));
                }
                (top + 1.0).log2() - 256.0
            }
        }
    }

    /// Probability that one nonce is golden (may be 0.0 in f64 for very hard goals; use
    /// [`Problem::log2_probability`] for maths).
    pub fn probability(&self) -> f64 {
        self.log2_probability().exp2()
    }
}

/// Leading zero bits of a big-endian byte string, msb first.
pub(crate) fn leading_zeros_be(bytes: &[u8]) -> u32 {
    let mut n = 0;
    for b in bytes {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

/// Decodes Bitcoin's compact nBits into a 256-bit big-endian target.
pub fn decode_nbits(bits: u32) -> Result<[u8; 32]> {
    let exponent = (bits >> 24) as usize;
    let mantissa = bits & 0x007f_ffff;
    if bits & 0x0080_0000 != 0 {
        return Err(ProblemError::new("bitcoin-header", format!("nBits {bits:#010x} encodes a negative target")));
    }
    let mut target = [0u8; 32];
    let m = mantissa.to_be_bytes(); // m[1..4] are the three mantissa bytes
    for (i, byte) in m[1..4].iter().enumerate() {
        // Byte i of the mantissa has weight 256^(exponent - 1 - i).
        let power = exponent as isize - 1 - i as isize;
        if power < 0 {
            continue;
        }
        if power >= 32 {
            if *byte != 0 {
                return Err(ProblemError::new("bitcoin-header", format!("nBits {bits:#010x} overflows 256 bits")));
            }
            continue;
        }
        target[31 - power as usize] = *byte;
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_nbits_decodes() {
        let t = decode_nbits(0x1d00ffff).unwrap();
        let mut want = [0u8; 32];
        want[4] = 0xff;
        want[5] = 0xff;
        assert_eq!(t, want);
    }

    #[test]
    fn difficulty_out_of_range_names_the_field() {
        let e = Problem::text("x", 300).unwrap_err();
        assert_eq!(e.field, "difficulty");
        assert!(e.message.contains("0..=256"));
    }

    #[test]
    fn bitcoin_range_must_fit_u32() {
        let p = Problem::bitcoin(&[0u8; 80], Some(1)).unwrap();
        assert!(p.clone().with_range(NonceRange::new(0, 1 << 32).unwrap()).is_ok());
        assert_eq!(p.with_range(NonceRange::new(0, (1 << 32) + 1).unwrap()).unwrap_err().field, "end");
    }

    #[test]
    fn empty_range_is_rejected() {
        assert!(NonceRange::new(10, 5).is_err());
        assert!(NonceRange::new(5, 5).is_err());
    }

    #[test]
    fn log2_probability_of_genesis_target() {
        let p = Problem::bitcoin(&crate::hash::tests::GENESIS_HEADER_BYTES(), None).unwrap();
        // target = 0xffff * 2^208 → log2 ≈ 16 + 208 - 256 = -32.
        assert!((p.log2_probability() + 32.0).abs() < 1e-3, "{}", p.log2_probability());
    }
}
