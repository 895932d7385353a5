//! Which Kubernetes cluster a run or a plan is for, as the run history keys it: the
//! kubeconfig context (named, or the current one) and its API server, read from the
//! kubeconfig without a request. Without the `k8s` feature there is none.

use crate::history::ClusterKey;

/// The cluster of `--context` (or the current context) and that context's namespace.
#[cfg(feature = "k8s")]
pub fn identify(context: Option<&str>) -> Option<(ClusterKey, Option<String>)> {
    let id = cnd_k8s::cluster_identity(&cnd_k8s::ClientOptions { context: context.map(str::to_string) })?;
    Some((ClusterKey { context: id.context, server: id.server }, id.namespace))
}

/// None: Kubernetes support is not built in.
#[cfg(not(feature = "k8s"))]
pub fn identify(_context: Option<&str>) -> Option<(ClusterKey, Option<String>)> {
    None
}
