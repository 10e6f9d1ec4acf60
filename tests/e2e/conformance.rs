//! The simulator's conformance test: an Autotask REST client written by someone else,
//! `@apigrate/autotask-restapi` from npm (pinned in `tests/conformance/package.json`), runs
//! its queries against the simulator and checks what comes back
//! (`tests/conformance/apigrate.test.mjs`). Where the two disagree the simulator is wrong,
//! unless the test says the client is. Opted in (`--ignored`): it needs Node.js and the
//! client installed with `npm ci` in `tests/conformance`, which `tests/run` does.

use std::path::Path;
use std::process::Command;

use autotask_sim::{SimConfig, Simulator};
use serde_json::Value;

/// More than two pages of 500, so paging by POST and by GET is exercised.
const TICKETS: usize = 1_234;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and `npm ci` in tests/conformance; run by tests/run"]
async fn an_independent_autotask_client_agrees_with_the_simulator() {
    let root = support::workspace_root();
    let dir = root.join("tests/conformance");
    check_installed(&dir);

    let config = SimConfig {
        seed: 19,
        tickets: TICKETS,
        epoch: Some(autotask_sim::sample::sample_epoch()),
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.expect("the simulator starts");
    let mut node = Command::new("node");
    node.current_dir(root)
        .args(["--test", "tests/conformance/apigrate.test.mjs"])
        .env("AUTOTASK_SIM_URL", sim.url())
        .env("AUTOTASK_SIM_USER", &sim.config().user)
        .env("AUTOTASK_SIM_SECRET", &sim.config().secret)
        .env("AUTOTASK_SIM_CODE", &sim.config().integration_code)
        .env("AUTOTASK_SIM_TICKETS", TICKETS.to_string());
    println!("running the client's tests against the simulator at {}", sim.url());
    // Node's output goes straight to this test's stdout and stderr, as it comes. The
    // simulator keeps serving on the runtime's workers while this one waits.
    let status = tokio::task::spawn_blocking(move || node.status())
        .await
        .expect("the node process is waited for")
        .expect("node starts");
    assert!(
        status.success(),
        "the independent Autotask client disagrees with the simulator ({status}): see the failing tests above"
    );
}

/// Fails (rather than skips) when Node.js or the pinned client is missing, saying how to install it.
fn check_installed(dir: &Path) {
    let advice = format!("run `npm ci` in {}", dir.display());
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|output| output.status.success()),
        "Node.js is needed for the conformance test and `node --version` failed ({node:?}); install Node.js, then {advice}"
    );
    let read = |path: &Path| -> Option<Value> { serde_json::from_slice(&std::fs::read(path).ok()?).ok() };
    let manifest = read(&dir.join("package.json")).expect("tests/conformance/package.json is readable JSON");
    let pinned = manifest["dependencies"]["@apigrate/autotask-restapi"].as_str().expect("the client is pinned");
    let installed = read(&dir.join("node_modules/@apigrate/autotask-restapi/package.json"));
    let version = installed.as_ref().and_then(|package| package["version"].as_str());
    assert_eq!(
        version,
        Some(pinned),
        "@apigrate/autotask-restapi {pinned} is not installed in tests/conformance (found {version:?}); {advice}"
    );
}
