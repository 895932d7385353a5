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
//!   timeout (else a day: every Job has a deadline), and on servers ≥ 1.31 (read from `/version`) `successPolicy` ends the Job on
//!   the first success, so the cluster stops the run even if the coordinator is gone (not in
//!   `lowest` mode, which needs every index below the best one).
//! - **More chunks than pods.** `--chunks K` makes the Job's `completions` K and its
//!   `parallelism` the run's workers: the Job controller starts the next pending index as a
//!   pod ends, and `status.completedIndexes` says which chunks are done. The worker contract's
//!   `CND_WORKER_COUNT` is K, so pod `i` searches `split(range, K)[i]` ([`ChunkPlan`]). In
//!   `lowest` mode the coordinator stops once every chunk below the best is done.
//! - **Runs outlive their coordinator.** With [`DispatcherSettings::record`] the run's
//!   record, a labelled ConfigMap `cnd-<run-id>-record` ([`RunRecord`]), is created before
//!   the Job and updated as chunks complete; [`K8sDispatcher::detach`] leaves a started run
//!   to the cluster, [`K8sDispatcher::attach`] follows it again (its Job's pods keep their
//!   termination messages until the Job is deleted), and the cleanup removes the record.
//! - **Watch, don't poll.** The dispatcher watches the run's pods and its Job with
//!   kube-runtime's watcher and reads each terminated container's termination message: one
//!   JSON [`cnd_core::WorkerReport`], which the worker wrote with [`TerminationLog`];
//!   with SQS the reports come through a result channel instead. The coordinator
//!   (`cnd_core::coordinate`) verifies every nonce.
//! - **Never wait for what cannot come.** Pods that can never start (an image the registry
//!   refuses, a missing Secret, pods the Job controller may not create, read from the Job's
//!   events) end the run at once, naming the cause; image pulls that keep failing end it after
//!   a grace, unschedulable pods after `pending_timeout` without progress (timed out). The
//!   `--aws-secret` Secret is checked before anything is created, and a result channel is
//!   drained (bounded) after the Job ended, so that its reports decide the run.
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
mod record;
mod resume;
mod runs;
mod termination_log;

pub use client::{ClientOptions, ClusterIdentity, cluster_identity, connect};
pub use dispatcher::{DispatcherSettings, K8sDispatcher, delete_run, wait_pods_gone};
pub use error::{Error, RBAC_HINT, Result, ServerMessage};
pub use job::{
    AUTO_CHUNK_TIME, CA_DIR, CONTAINER, ChunkPlan, Cpu, DEFAULT_IMAGE, DEFAULT_JOB_DEADLINE, JobSettings, KubeVersion,
    MAX_CHUNKS, MAX_JOB_DEADLINE, Memory, NAME_LABEL, NodeSelector, Placement, PullPolicy, RUN_LABEL, TaintEffect,
    TolerationSpec, WORKER_UID, all_runs_selector, auto_chunks, format_indexes, job_name, parse_indexes, render_job,
    render_rbac, run_selector, to_yaml,
};
pub use record::{RunRecord, delete_record, find_run, list_records, read_record, record_name};
pub use resume::{CHUNK_LIST, chunks_to_do, render_resume_job, resume};
pub use runs::{RunStatus, cleanup, status};
pub use termination_log::TerminationLog;

/// Re-exported for callers that build their own client (e.g. tests with a mock service).
pub use kube::Client;
