//! A real search on a real cluster: ignored unless asked for. `tests/k8s-e2e.sh` runs it
//! (scenario 19) against its test cluster, so CI's end-to-end stage runs it too.
//!
//! ```text
//! # a cluster (kind, k3d, or this repository's tests/k8s/cluster) and the worker image on
//! # its node (deploy/build-image.sh, then `kind load image-archive` / load-image.sh):
//! KUBECONFIG=~/.kube/config CND_TEST_IMAGE=localhost/cnd:dev \
//!     cargo test -p cnd-k8s --test cluster -- --ignored --nocapture
//! ```
//!
//! `CND_TEST_NAMESPACE` picks the namespace (default: the context's), `CND_TEST_IMAGE` the
//! image (default `localhost/cnd:dev`, pulled `Never`: it must be on the node).

use std::time::Duration;

use cnd_core::{Mode, NonceRange, Outcome, Problem, RunSpec, StopReason, coordinate, verify};
use cnd_k8s::{ClientOptions, DispatcherSettings, JobSettings, K8sDispatcher, PullPolicy, connect, status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs cluster"]
async fn a_real_search_finds_a_verified_nonce_and_leaves_nothing() {
    let client = connect(&ClientOptions::default()).await.expect("KUBECONFIG points at a cluster");
    let namespace = std::env::var("CND_TEST_NAMESPACE").unwrap_or_else(|_| client.default_namespace().to_string());
    let image = std::env::var("CND_TEST_IMAGE").unwrap_or_else(|_| cnd_k8s::DEFAULT_IMAGE.to_string());
    let problem =
        Problem::text("COMSM0010cloud", 16).unwrap().with_range(NonceRange::new(0, 4_000_000).unwrap()).unwrap();
    let mut spec = RunSpec::new(problem, 2, Mode::First);
    spec.timeout = Some(Duration::from_secs(180));
    let settings = DispatcherSettings {
        namespace: Some(namespace.clone()),
        job: JobSettings {
            image,
            image_pull_policy: PullPolicy::Never,
            cpu: "500m".parse().unwrap(),
            memory: "64Mi".parse().unwrap(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut d = K8sDispatcher::new(client.clone(), settings);
    let timer = async {
        tokio::time::sleep(Duration::from_secs(180)).await;
        StopReason::TimedOut
    };
    let result = coordinate(&mut d, &spec, timer).await.expect("the run ends without error");
    let Outcome::Found(found) = result.outcome else { panic!("no nonce: {result:?}") };
    assert!(verify(&spec.problem, found.nonce).is_valid());
    println!("found {} by {} in {:?}", found.nonce, found.found_by, result.elapsed);
    // The run's cleanup ends once its pods are stopped for good (deleted, no container
    // running); the kubelet removes their objects a few seconds later: nothing may be left then.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = status(client.clone(), &namespace, Some(&spec.run_id)).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "something of the run is left 30 s after it ended: {left:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
