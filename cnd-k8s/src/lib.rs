//! The CND Kubernetes backend (being built: see the Kubernetes issue).
#![deny(missing_docs)]
