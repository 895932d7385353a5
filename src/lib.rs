//! CND — Cloud Nonce Discovery.
//!
//! This facade crate is what an application embeds. It re-exports
//! [`cnd_core`] (the problem, verification, kernels, partitioning and the
//! dispatcher traits) at its root and, behind cargo features, the backends:
//!
//! | feature | module | what |
//! |---|---|---|
//! | `local` (default) | [`local`] | every core of this machine, and local worker processes |
//! | `k8s` | `k8s` | an Indexed Job on a Kubernetes cluster |
//! | `sqs` | `sqs` | results over AWS SQS |
//!
//! ```no_run
//! use cnd::{Mode, NonceRange, Problem};
//!
//! let problem = Problem::text("COMSM0010cloud", 20)?.with_range(NonceRange::new(0, 1 << 32)?)?;
//! let outcome = cnd::local::search(&problem, &cnd::local::SearchOptions::default())?;
//! println!("{outcome:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub use cnd_core::*;

/// The local backend: all cores of this machine ([`cnd_local`]).
#[cfg(feature = "local")]
pub use cnd_local as local;

/// The Kubernetes backend ([`cnd_k8s`]).
#[cfg(feature = "k8s")]
pub use cnd_k8s as k8s;

/// Results over AWS SQS ([`cnd_sqs`]).
#[cfg(feature = "sqs")]
pub use cnd_sqs as sqs;
