//! `deploy/job-example.yaml` is what [`render_job`] renders for
//! `cnd k8s manifest --workers 4 -d 24 --timeout 10m --run-id example`, checked here without
//! the binary (`tests/validate-manifests.sh` checks it through `cnd` and a server's dry run).

use std::time::Duration;

use cnd_core::{DEFAULT_BLOCK, Mode, Problem, RunSpec};
use cnd_k8s::{JobSettings, KubeVersion, render_job, to_yaml};

#[test]
fn the_example_job_is_what_render_job_renders() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/job-example.yaml");
    let committed = std::fs::read_to_string(path).expect("deploy/job-example.yaml");
    let committed: String = committed.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let mut spec = RunSpec::new(Problem::text(DEFAULT_BLOCK, 24).unwrap(), 4, Mode::First);
    spec.run_id = "example".into();
    spec.timeout = Some(Duration::from_secs(600));
    let job = render_job(&spec, &JobSettings::default(), KubeVersion::LATEST).unwrap();
    assert_eq!(committed, to_yaml(&job), "re-render deploy/job-example.yaml (keep its comment header)");
}
