//! The CND Kubernetes backend: a search runs as one Indexed Job whose pods an autoscaler can
//! add nodes for, and whose first verified golden nonce ends the run.
//!
//! Design choices:
//!
//! - **One render function.** [`render_job`] builds the Job from typed `k8s_openapi` structs;
//!   [`K8sDispatcher`] creates exactly what `cnd k8s manifest` prints. The pods' environment
//!   is written by [`cnd_core::WorkerSpec`], the type the worker reads it with, and their
//!   exit codes are [`cnd_core::Exit`]'s, in the Job's policies as in the dispatcher that
//!   reads them. The cluster does as much of the work as it can: `completionMode: Indexed`
//!   gives each pod its partition (`JOB_COMPLETION_INDEX`), `podFailurePolicy` makes exit 3
//!   ("exhausted") final for its index and exit 2 ("bad input") final for the Job,
//!   `backoffLimitPerIndex` retries a crashed pod once, `activeDeadlineSeconds` is the run's
//!   timeout, and on servers ≥ 1.31 (read from `/version`) `successPolicy` ends the Job on
//!   the first success, so the cluster stops the run even if the coordinator is gone (not in
//!   `lowest` mode, which needs every index below the best one).
//! - **Watch, don't poll.** The dispatcher watches the run's pods and its Job with
//!   kube-runtime's watcher and reads each terminated container's termination message: one
//!   JSON [`cnd_core::WorkerReport`], which the worker wrote with [`TerminationLog`];
//!   with SQS the reports come through a result channel instead. The coordinator
//!   (`cnd_core::coordinate`) verifies every nonce.
//! - **Leave nothing behind.** `shutdown` deletes the Job with background propagation and
//!   waits, watching, until its pods are gone, on every exit path. A refused create leaves
//!   nothing to delete.
//! - **Errors say who may not do what, where.** A 403 names the verb, the resource and the
//!   namespace, and points at `deploy/rbac.yaml`.
#![deny(missing_docs)]

mod client;
mod dispatcher;
mod error;
mod job;
mod runs;
mod termination_log;

pub use client::{ClientOptions, connect};
pub use dispatcher::{DispatcherSettings, K8sDispatcher, delete_run, wait_pods_gone};
pub use error::{Error, RBAC_HINT, Result, ServerMessage};
pub use job::{
    CA_DIR, CONTAINER, Cpu, DEFAULT_IMAGE, JobSettings, KubeVersion, Memory, NAME_LABEL, PullPolicy, RUN_LABEL,
    WORKER_UID, all_runs_selector, job_name, render_job, render_rbac, run_selector, to_yaml,
};
pub use runs::{RunStatus, cleanup, status};
pub use termination_log::TerminationLog;

/// Re-exported for callers that build their own client (e.g. tests with a mock service).
pub use kube::Client;
