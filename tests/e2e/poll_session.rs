//! A poll's batches on one instance ([`PollSession`]): reuse is real, and it
//! stops at the poll. Nothing a batch leaves in its instance reaches another
//! poll, and an instance that failed a batch, or whose earlier batches left it
//! unable to map the next, is never the reason a batch fails.

use std::sync::Arc;
use std::time::Duration;

use plugin_runtime::{Limits, MAX_KEPT_INSTANCES, Plugin, PluginError, PluginRuntime, PollSession};
use serde_json::Value;
use support::{MISBEHAVING_WASM, context, ticket_batch};

fn misbehaving(runtime: &PluginRuntime) -> Arc<Plugin> {
    Arc::new(runtime.load_bytes("misbehaving.wasm", MISBEHAVING_WASM).unwrap())
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(Limits { batch_time: Duration::from_secs(2), ..Limits::default() }).unwrap()
}

/// How many batches the `remember` plugin's instance had mapped, this one included.
fn batches_seen(session: &mut PollSession) -> u64 {
    let results = session.transform_blocking(&context("remember"), &ticket_batch(1, 3)).unwrap();
    let counts: Vec<u64> = results
        .iter()
        .map(|result| {
            let payload: Value = serde_json::from_str(&result.as_ref().unwrap()[0].payload).unwrap();
            payload["batches_seen"].as_u64().unwrap()
        })
        .collect();
    assert!(counts.windows(2).all(|pair| pair[0] == pair[1]), "one batch, one count: {counts:?}");
    counts[0]
}

#[test]
fn the_batches_of_one_poll_share_an_instance_and_polls_never_do() {
    let runtime = runtime();
    let plugin = misbehaving(&runtime);
    let mut poll = plugin.session();
    assert_eq!([batches_seen(&mut poll), batches_seen(&mut poll), batches_seen(&mut poll)], [1, 2, 3]);
    assert_eq!(poll.batches_on_instance(), 3);

    // Another poll, running at the same time, starts from a fresh instance and
    // counts on its own; so does the first poll's successor.
    let mut other = plugin.session();
    assert_eq!(batches_seen(&mut other), 1);
    assert_eq!(batches_seen(&mut poll), 4);
    drop(poll);
    let mut next = plugin.session();
    assert_eq!(batches_seen(&mut next), 1);
    assert_eq!(batches_seen(&mut other), 2);

    // Without a session every batch is on a fresh instance.
    for _ in 0..2 {
        let results = plugin.transform_blocking(&context("remember"), &ticket_batch(1, 1)).unwrap();
        let payload: Value = serde_json::from_str(&results[0].as_ref().unwrap()[0].payload).unwrap();
        assert_eq!(payload["batches_seen"], 1);
    }
}

#[test]
fn an_instance_that_failed_a_batch_is_not_used_again() {
    let runtime = runtime();
    let plugin = misbehaving(&runtime);
    let mut poll = plugin.session();
    assert_eq!([batches_seen(&mut poll), batches_seen(&mut poll)], [1, 2]);
    let error = poll.transform_blocking(&context("trap"), &ticket_batch(1, 2)).unwrap_err();
    assert!(matches!(error, PluginError::Trap { .. }), "{error}");
    assert_eq!(poll.batches_on_instance(), 0, "the trapped instance is dropped");
    assert_eq!(batches_seen(&mut poll), 1, "the next batch starts on a fresh instance");
}

#[test]
fn memory_kept_by_earlier_batches_never_fails_a_later_one() {
    let runtime = runtime();
    let plugin = misbehaving(&runtime);
    let mut poll = plugin.session();
    // `hoard` keeps 24 MiB a batch: the third on one instance would need more
    // than the 64 MiB limit, so it is mapped again on a fresh instance.
    for batch in 1..=4 {
        let results = poll.transform_blocking(&context("hoard"), &ticket_batch(2, 2));
        assert!(results.is_ok_and(|results| results.iter().all(Result::is_ok)), "batch {batch} maps");
    }
    assert_eq!(poll.batches_on_instance(), 2, "batches 3 and 4 on the fresh instance");
    // Alone, a batch that exceeds the limit still fails with the limit.
    let error = plugin.transform_blocking(&context("grow"), &ticket_batch(2, 1)).unwrap_err();
    assert!(matches!(error, PluginError::MemoryLimit { .. }), "{error}");
}

#[test]
fn only_so_many_instances_are_kept_between_batches() {
    let runtime = runtime();
    let plugin = misbehaving(&runtime);
    let mut polls: Vec<PollSession> = (0..MAX_KEPT_INSTANCES).map(|_| plugin.session()).collect();
    for poll in &mut polls {
        assert_eq!(batches_seen(poll), 1);
        assert_eq!(poll.batches_on_instance(), 1, "kept");
    }
    // One poll more than may keep an instance maps on a fresh one each batch.
    let mut over = plugin.session();
    assert_eq!([batches_seen(&mut over), batches_seen(&mut over)], [1, 1]);
    assert_eq!(over.batches_on_instance(), 0);
    // A poll that ends gives its place back.
    polls.pop();
    assert_eq!([batches_seen(&mut over), batches_seen(&mut over)], [1, 2]);
}
