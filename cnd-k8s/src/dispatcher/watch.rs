//! Watching, deleting and waiting: the kube-runtime watchers a run reads, and the deletion
//! of a run's Job that waits, watching, until its pods are gone.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::mpsc;

use super::{JOBS, PODS};
use crate::error::{Error, Result, ServerMessage};
use crate::job::run_selector;

/// A watch of `api`'s objects (a `Send` stream, as the run's merged events need).
pub(super) fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

/// A tokio channel's receiver as a stream.
pub(super) fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// The HTTP status of a watcher error, and the verb that failed.
fn status_of(e: &watcher::Error) -> Option<(&'static str, u16)> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s)) => Some(("list", s.code)),
        watcher::Error::WatchStartFailed(kube::Error::Api(s)) | watcher::Error::WatchFailed(kube::Error::Api(s)) => {
            Some(("watch", s.code))
        }
        watcher::Error::WatchError(s) => Some(("watch", s.code)),
        _ => None,
    }
}

/// A status that retrying cannot fix: a client error (400 bad request, 401 credentials
/// refused, 403 forbidden, 404 not found, 422, ...), except those that say "later"
/// (408 timeout, 409 conflict, 410 gone: the watcher lists again, 429 too many requests).
fn unfixable(code: u16) -> bool {
    (400..500).contains(&code) && ![408, 409, 410, 429].contains(&code)
}

/// A watcher error that retrying cannot fix (credentials, permissions, a resource the server
/// does not have), as an error of the run that names the verb, the resource and the namespace.
pub(super) fn fatal_watch_error(e: &watcher::Error, resource: &'static str, namespace: &str) -> Option<Error> {
    let (verb, code) = status_of(e).filter(|(_, code)| unfixable(*code))?;
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => s.clone(),
        _ => return None,
    };
    tracing::debug!(verb, resource, code, "a watch error retrying cannot fix");
    Some(Error::api(verb, resource, namespace, kube::Error::Api(status)))
}

/// A watch that helps but is not needed (the Job's events): it ends, with a warning, at the
/// first error retrying cannot fix (e.g. a Role without `events`), instead of retrying it
/// for the whole run.
pub(super) fn until_refused<K: Send + 'static>(
    stream: BoxStream<'static, Result<Event<K>, watcher::Error>>,
    resource: &'static str,
    namespace: String,
) -> BoxStream<'static, Result<Event<K>, watcher::Error>> {
    futures::stream::unfold((stream, false), move |(mut stream, refused)| {
        let namespace = namespace.clone();
        async move {
            if refused {
                return None;
            }
            let item = stream.next().await?;
            let fatal = item.as_ref().err().and_then(|e| fatal_watch_error(e, resource, &namespace));
            if let Some(f) = &fatal {
                tracing::warn!("{f}: going on without them (a pod the Job controller may not create then shows only as a missing one)");
            }
            Some((item, (stream, fatal.is_some())))
        }
    })
    .boxed()
}

/// Deletes a run's Job with background propagation, then waits (at most `timeout`) until
/// its pods are gone, watching them.
pub async fn delete_run(
    client: Client,
    namespace: &str,
    job: &str,
    run_id: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    delete_run_until(client, namespace, job, run_id, timeout, Until::Gone).await
}

/// How far a wait for a run's pods goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Until {
    /// No pod object is left.
    Gone,
    /// Every pod is gone, or stopped for good: being deleted (a deletion timestamp) with no
    /// container left running. The kubelet then removes the object by itself (after tearing
    /// down the sandbox and the cgroup, a second or two); no worker runs any more.
    Stopped,
}

/// [`delete_run`], waiting for the pods `until` gone or stopped.
pub(super) async fn delete_run_until(
    client: Client,
    namespace: &str,
    job: &str,
    run_id: Option<&str>,
    timeout: Duration,
    until: Until,
) -> Result<()> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    match jobs.delete(job, &DeleteParams::background()).await {
        Ok(_) => tracing::info!(job, namespace, "deleted the Job (background propagation)"),
        Err(kube::Error::Api(s)) if s.code == 404 => tracing::debug!(job, "the Job was already gone"),
        Err(e) => return Err(Error::api("delete", JOBS, namespace, e)),
    }
    let Some(run_id) = run_id else { return Ok(()) };
    let selector = run_selector(run_id);
    // The cleanup is bounded as a whole: the deletion's time counts in the wait.
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(timeout, delete_pods(&client, namespace, &selector)).await {
        Ok(deleted) => deleted?,
        Err(_) => {
            return Err(Error::Api {
                verb: "delete",
                resource: PODS,
                namespace: namespace.to_string(),
                code: None,
                source: ServerMessage(format!(
                    "the deletion of the run's pods did not end within {}s",
                    timeout.as_secs()
                )),
            });
        }
    }
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    wait_pods(pods, &selector, namespace, timeout.saturating_sub(started.elapsed()), until).await
}

/// Deletes every pod matching `selector`, after their Job (so that its controller does not
/// replace them), in two `deletecollection` requests: first the pods that may still run (not
/// `Succeeded` or `Failed`), so that the workers stop before the API server goes through the
/// thousands of ended pods a long run keeps, then the rest. Left to themselves, the Job's
/// pods are deleted by the garbage collector one request each, at the controller-manager's
/// client rate limit: thousands of pods then take minutes (`tests/k8s-scale.sh`). The replies
/// (every deleted pod, as metadata) are not read. A Role without the verb (an older
/// deploy/rbac.yaml) leaves the pods to the garbage collector, as before, with a note.
async fn delete_pods(client: &Client, namespace: &str, selector: &str) -> Result<()> {
    let started = tokio::time::Instant::now();
    let running = ListParams::default().labels(selector).fields("status.phase!=Succeeded,status.phase!=Failed");
    if !delete_collection(client, namespace, &running).await? {
        tracing::info!(
            "the Role does not allow deletecollection of pods: the garbage collector deletes them, one at a time \
             (deploy/rbac.yaml grants it)"
        );
        return Ok(());
    }
    tracing::info!(selector, took_s = started.elapsed().as_secs_f64(), "deleted the run's pods that may still run");
    delete_collection(client, namespace, &ListParams::default().labels(selector)).await?;
    tracing::info!(selector, took_s = started.elapsed().as_secs_f64(), "deleted the run's ended pods");
    Ok(())
}

/// One `deletecollection` of the pods `list` selects; `false` if the Role does not allow it.
async fn delete_collection(client: &Client, namespace: &str, list: &ListParams) -> Result<bool> {
    use kube::Resource;
    let failed = |e| Error::api("delete", PODS, namespace, e);
    let url = Pod::url_path(&(), Some(namespace));
    let mut request = kube::core::Request::new(url)
        .delete_collection(&DeleteParams::background(), list)
        .map_err(|e| failed(kube::Error::BuildRequest(e)))?;
    request.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        ),
    );
    let reply = client.send(request.map(kube::client::Body::from)).await.map_err(failed)?;
    let code = reply.status();
    if code.is_success() {
        return Ok(true);
    }
    if code == http::StatusCode::FORBIDDEN {
        return Ok(false);
    }
    let body = reply.into_body().collect_bytes().await.map_err(failed)?;
    let status = serde_json::from_slice::<kube::core::Status>(&body).unwrap_or_else(|_| {
        kube::core::Status::failure(String::from_utf8_lossy(&body).trim(), "").with_code(code.as_u16())
    });
    Err(failed(kube::Error::Api(status.boxed())))
}

/// Waits until no pod matches `selector`, watching (initial list, then deletions).
pub async fn wait_pods_gone(pods: Api<Pod>, selector: &str, namespace: &str, timeout: Duration) -> Result<()> {
    wait_pods(pods, selector, namespace, timeout, Until::Gone).await
}

/// Whether a pod is stopped for good: being deleted, and no container of it can run again.
fn stopped(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_none() {
        return false;
    }
    let status = pod.status.as_ref();
    let ended = matches!(status.and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
    let containers = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let all_terminated =
        !containers.is_empty() && containers.iter().all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
    ended || all_terminated
}

/// Waits until every pod matching `selector` is gone, or, with [`Until::Stopped`], gone or
/// stopped for good; watching (initial list, then changes).
async fn wait_pods(pods: Api<Pod>, selector: &str, namespace: &str, timeout: Duration, until: Until) -> Result<()> {
    // The pods not gone, and whether each is stopped.
    let mut live: HashMap<String, bool> = HashMap::new();
    let mut listed = false;
    let mut stream = watcher(pods, watcher::Config::default().labels(selector)).default_backoff().boxed();
    let wait = async {
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => {
                    live.clear();
                    listed = false;
                }
                Ok(Event::InitApply(p)) | Ok(Event::Apply(p)) => {
                    let stopped = stopped(&p);
                    live.insert(p.metadata.name.unwrap_or_default(), stopped);
                }
                Ok(Event::Delete(p)) => {
                    live.remove(&p.metadata.name.unwrap_or_default());
                }
                Ok(Event::InitDone) => listed = true,
                Err(e) => {
                    if let Some(f) = fatal_watch_error(&e, PODS, namespace) {
                        return Err(f);
                    }
                    tracing::debug!("waiting for pods to go: {e}");
                }
            }
            let done = match until {
                Until::Gone => live.is_empty(),
                Until::Stopped => live.values().all(|stopped| *stopped),
            };
            if listed && done {
                if !live.is_empty() {
                    tracing::info!(pods = live.len(), "the pods have stopped; the kubelet removes them");
                }
                return Ok(());
            }
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => {
            let mut left: Vec<_> = live.into_keys().collect();
            left.sort();
            Err(Error::Api {
                verb: "wait for the deletion of",
                resource: PODS,
                namespace: namespace.to_string(),
                code: None,
                source: ServerMessage(format!("still there after {}s: {}", timeout.as_secs(), left.join(", "))),
            })
        }
    }
}

/// Lists a run's (or every run's) pods, for `cnd k8s status`.
pub(crate) async fn list_pods(client: Client, namespace: &str, selector: &str) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    Ok(api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| Error::api("list", PODS, namespace, e))?
        .items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_pod_is_stopped_once_being_deleted_with_no_container_running() {
        let terminated = serde_json::json!([{"name": "worker", "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": 4}}}]);
        let running = serde_json::json!([{"name": "worker", "image": "i", "imageID": "", "ready": true,
            "restartCount": 0, "state": {"running": {}}}]);
        let deleting = serde_json::json!({"name": "p", "deletionTimestamp": "2026-11-30T20:00:00Z"});
        let cases = [
            (
                serde_json::json!({"metadata": deleting.clone(), "status": {"phase": "Running", "containerStatuses": terminated}}),
                true,
            ),
            (serde_json::json!({"metadata": deleting.clone(), "status": {"phase": "Succeeded"}}), true),
            (
                serde_json::json!({"metadata": deleting.clone(), "status": {"phase": "Running", "containerStatuses": running}}),
                false,
            ),
            // Never started: the kubelet may still be starting it.
            (serde_json::json!({"metadata": deleting.clone(), "status": {"phase": "Pending"}}), false),
            (serde_json::json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}}), false),
        ];
        for (p, want) in cases {
            assert_eq!(stopped(&pod(p.clone())), want, "{p}");
        }
    }
}
