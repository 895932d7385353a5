//! The problem flags, shared by the search, `verify`, `plan`, `bench` and `k8s manifest`, and
//! their conversion into a validated [`Problem`].

use clap::{Args, ValueEnum};
use cnd_core::{BitOrder, DEFAULT_BLOCK, NonceRange, Problem};

use super::values::{parse_difficulty, parse_nonce};
use crate::error::usage;

/// `--bit-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BitOrderArg {
    /// Most significant bit first (what a person reads in the hex digest).
    Msb,
    /// Bit 0 of each byte first (the reference system's order).
    Lsb,
}

impl From<BitOrderArg> for BitOrder {
    fn from(b: BitOrderArg) -> Self {
        match b {
            BitOrderArg::Msb => BitOrder::Msb,
            BitOrderArg::Lsb => BitOrder::Lsb,
        }
    }
}

/// The problem: block, difficulty, bit order, range.
#[derive(Debug, Clone, Args)]
pub struct ProblemArgs {
    /// Leading zero bits required, 0..=256 (required for text blocks, except by `bench
    /// --scaling`, which defaults to 20; for a Bitcoin header the default is the target of
    /// its nBits).
    #[arg(short = 'd', long = "difficulty", env = "CND_DIFFICULTY", value_name = "D", value_parser = parse_difficulty)]
    pub difficulty: Option<u32>,

    /// The block as text [default: COMSM0010cloud].
    #[arg(long, env = "CND_BLOCK", value_name = "TEXT", conflicts_with_all = ["block_hex", "bitcoin_header"])]
    pub block: Option<String>,

    /// The block as hex bytes.
    #[arg(long, env = "CND_BLOCK_HEX", value_name = "HEX", conflicts_with = "bitcoin_header")]
    pub block_hex: Option<String>,

    /// An 80-byte Bitcoin block header (160 hex digits); the nonce is its bytes 76..80.
    #[arg(long, env = "CND_BITCOIN_HEADER", value_name = "HEX")]
    pub bitcoin_header: Option<String>,

    /// How leading zero bits are counted.
    #[arg(long, env = "CND_BIT_ORDER", value_enum, default_value = "msb")]
    pub bit_order: BitOrderArg,

    /// First nonce of the range.
    #[arg(long, env = "CND_START", default_value_t = 0, value_name = "N", value_parser = parse_nonce)]
    pub start: u64,

    /// One past the last nonce of the range.
    #[arg(long, env = "CND_END", default_value_t = 1 << 32, value_name = "N", value_parser = parse_nonce)]
    pub end: u64,
}

impl ProblemArgs {
    /// The text block these flags name (`--block-hex` or `--block`, else the default).
    pub fn text_block(&self) -> anyhow::Result<Vec<u8>> {
        Ok(match &self.block_hex {
            Some(h) => decode_hex("--block-hex", h)?,
            None => self.block.clone().unwrap_or_else(|| DEFAULT_BLOCK.to_string()).into_bytes(),
        })
    }
}

impl TryFrom<&ProblemArgs> for Problem {
    type Error = anyhow::Error;

    /// The validated problem; errors name the flag and the allowed values.
    fn try_from(a: &ProblemArgs) -> anyhow::Result<Problem> {
        let problem = if let Some(hex_header) = &a.bitcoin_header {
            Problem::bitcoin(&decode_hex("--bitcoin-header", hex_header)?, a.difficulty)?
        } else {
            let d = a.difficulty.ok_or_else(|| {
                usage("-d/--difficulty is required for a text block (allowed: 0..=256 leading zero bits)")
            })?;
            Problem::text(a.text_block()?, d)?
        };
        if a.start >= a.end {
            return Err(usage(format!(
                "--start/--end: the range [{}, {}) is empty (allowed: start < end)",
                a.start, a.end
            )));
        }
        Ok(problem.with_range(NonceRange::new(a.start, a.end)?)?.with_bit_order(a.bit_order.into()))
    }
}

/// Decodes hex, or a usage error naming the flag.
pub fn decode_hex(flag: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(text.trim()).map_err(|e| usage(format!("{flag}: not hex ({e}) (allowed: pairs of 0-9, a-f)")))
}
