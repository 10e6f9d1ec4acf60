//! The service's Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub instance: String,
    pub resource: String,
}

/// Poll outcomes: `ok` or `error`.
pub const POLL_OK: &str = "ok";
pub const POLL_ERROR: &str = "error";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    pub instance: String,
    pub resource: String,
    pub outcome: &'static str,
}

/// Delivery outcomes: `delivered`, `retry` or `dead_letter`.
pub const DELIVERED: &str = "delivered";
pub const RETRY: &str = "retry";
pub const DEAD_LETTER: &str = "dead_letter";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub instance: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    pub instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub plugin: String,
}

/// Plugin reload outcomes: `loaded`, `rejected` (the old version stays) or `removed`.
pub const RELOAD_LOADED: &str = "loaded";
pub const RELOAD_REJECTED: &str = "rejected";
pub const RELOAD_REMOVED: &str = "removed";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub plugin: String,
    pub outcome: &'static str,
}

/// Configuration reload outcomes: `applied` or `rejected` (the running one stays).
pub const CONFIG_APPLIED: &str = "applied";
pub const CONFIG_REJECTED: &str = "rejected";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// A fleet host's leases, by kind (`poll` or `delivery`); the host is a label
/// so that series from several hosts can be summed where they are collected.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    pub host: String,
    pub kind: &'static str,
}

/// What happened to a lease in a round: `taken` (from a dead, paused or
/// leaving host, or a free one), `lost` (another host took it), `handed_over`
/// (a host joined or came back and the lease went to it).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseChangeLabels {
    pub host: String,
    pub change: &'static str,
}

/// Push callout outcomes: every one `received`, then `verified` (signed by the
/// resource's webhook and stored) or `rejected` (bad or missing signature, unreadable).
pub const CALLOUT_RECEIVED: &str = "received";
pub const CALLOUT_VERIFIED: &str = "verified";
pub const CALLOUT_REJECTED: &str = "rejected";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CalloutLabels {
    pub instance: String,
    pub resource: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AutotaskLabels {
    pub entity: String,
    pub status: u16,
}

/// Every metric the service keeps. Cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    pub polls: Family<PollLabels, Counter>,
    pub records_read: Family<ResourceLabels, Counter>,
    pub records_failed: Family<ResourceLabels, Counter>,
    pub events_produced: Family<ResourceLabels, Counter>,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub delivery_latency: Family<InstanceLabels, Histogram>,
    pub plugin_errors: Family<PluginLabels, Counter>,
    pub plugin_call_seconds: Family<PluginLabels, Histogram>,
    pub autotask_requests: Family<AutotaskLabels, Counter>,
    pub instance_requests: Family<InstanceLabels, Counter>,
    /// One histogram for the whole host, not one per resource: thousands of
    /// resources would otherwise each carry a set of buckets.
    pub schedule_drift: Histogram,
    pub outbox_depth: Gauge,
    pub plugin_reloads: Family<ReloadLabels, Counter>,
    pub config_reloads: Family<OutcomeLabels, Counter>,
    pub push_callouts: Family<CalloutLabels, Counter>,
    /// Changes a poll turned into events that push had not delivered.
    pub push_gap: Family<ResourceLabels, Counter>,
    /// 1 while the resource's webhook is active in Autotask, 0 otherwise.
    pub push_active: Family<ResourceLabels, Gauge>,
    /// In a fleet: the leases this host holds, and how they changed hands.
    pub leases_held: Family<LeaseLabels, Gauge>,
    pub lease_changes: Family<LeaseChangeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("autotask_events");
        let polls = Family::default();
        registry.register("polls", "Polls of a resource, by outcome", polls.clone());
        let records_read = Family::default();
        registry.register("records_read", "Records read from Autotask", records_read.clone());
        let records_failed = Family::default();
        registry.register("records_failed", "Records the plugin or the host could not map", records_failed.clone());
        let events_produced = Family::default();
        registry.register("events_produced", "Events written to the outbox", events_produced.clone());
        let deliveries = Family::default();
        registry.register("deliveries", "Callback deliveries of a message, by outcome", deliveries.clone());
        let delivery_latency: Family<InstanceLabels, Histogram> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "delivery_latency_seconds",
            "From a message's commit to the callback's 2xx",
            delivery_latency.clone(),
        );
        let plugin_errors = Family::default();
        registry.register(
            "plugin_errors",
            "Plugin batches that failed (trap, limit, malformed)",
            plugin_errors.clone(),
        );
        let plugin_call_seconds: Family<PluginLabels, Histogram> = Family::new_with_constructor(call_histogram);
        registry.register("plugin_call_seconds", "Time a plugin took to map one batch", plugin_call_seconds.clone());
        let autotask_requests = Family::default();
        registry.register(
            "autotask_requests",
            "Answers from Autotask, by entity and HTTP status",
            autotask_requests.clone(),
        );
        let instance_requests = Family::default();
        registry.register(
            "instance_autotask_requests",
            "HTTP requests sent to Autotask by an instance's polls (retries, zone lookups and threshold reads included)",
            instance_requests.clone(),
        );
        let schedule_drift = drift_histogram();
        registry.register(
            "poll_schedule_drift_seconds",
            "How late a scheduled poll started: from when it was due (jitter included) to its start",
            schedule_drift.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register("outbox_depth", "Messages waiting for delivery", outbox_depth.clone());
        let plugin_reloads = Family::default();
        registry.register(
            "plugin_reloads",
            "Plugin files loaded, rejected (the previous version kept serving) or removed",
            plugin_reloads.clone(),
        );
        let config_reloads = Family::default();
        registry.register("config_reloads", "Configuration file changes applied or rejected", config_reloads.clone());
        let push_callouts = Family::default();
        registry.register(
            "push_callouts",
            "Autotask webhook callouts received, and of those verified (stored) or rejected",
            push_callouts.clone(),
        );
        let push_gap = Family::default();
        registry.register(
            "push_gap",
            "Changes a poll found that push had not delivered (dropped or late callouts)",
            push_gap.clone(),
        );
        let push_active = Family::default();
        registry.register(
            "push_active",
            "Whether a resource's Autotask webhook is active (1) or not (0)",
            push_active.clone(),
        );
        let leases_held = Family::default();
        registry.register("fleet_leases_held", "Leases this fleet host holds, by kind", leases_held.clone());
        let lease_changes = Family::default();
        registry.register(
            "fleet_lease_changes",
            "Leases this fleet host took, lost to another host, or handed over",
            lease_changes.clone(),
        );
        Metrics {
            registry,
            leases_held,
            lease_changes,
            polls,
            records_read,
            records_failed,
            events_produced,
            deliveries,
            delivery_latency,
            plugin_errors,
            plugin_call_seconds,
            autotask_requests,
            instance_requests,
            schedule_drift,
            outbox_depth,
            plugin_reloads,
            config_reloads,
            push_callouts,
            push_gap,
            push_active,
        }
    }

    /// Removes every series of instance `id` (with its `resources`), once it is
    /// gone for good: a service that creates and deletes instances must not
    /// keep their series forever.
    pub fn forget_instance(&self, id: &str, resources: &[String]) {
        let instance = || id.to_owned();
        for resource in resources {
            let labels = ResourceLabels::new(id, resource);
            for family in [&self.records_read, &self.records_failed, &self.events_produced, &self.push_gap] {
                family.remove(&labels);
            }
            self.push_active.remove(&labels);
            for outcome in [CALLOUT_RECEIVED, CALLOUT_VERIFIED, CALLOUT_REJECTED] {
                self.push_callouts.remove(&CalloutLabels { instance: instance(), resource: resource.clone(), outcome });
            }
            for outcome in [POLL_OK, POLL_ERROR] {
                self.polls.remove(&PollLabels { instance: instance(), resource: resource.clone(), outcome });
            }
        }
        for outcome in [DELIVERED, RETRY, DEAD_LETTER] {
            self.deliveries.remove(&DeliveryLabels { instance: instance(), outcome });
        }
        self.delivery_latency.remove(&InstanceLabels { instance: instance() });
        self.instance_requests.remove(&InstanceLabels { instance: instance() });
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// 5 ms to about 2 h: a delivery can wait out retries.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.5, 14))
}

/// 1 ms to 1 min, with a bound at 1 s: the drift a host of many instances
/// should stay under.
fn drift_histogram() -> Histogram {
    Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
}

/// 0.5 ms to about 8 s: a batch runs within the plugin time limit.
fn call_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

impl ResourceLabels {
    pub fn new(instance: &str, resource: &str) -> Self {
        ResourceLabels { instance: instance.to_owned(), resource: resource.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_instance_leaves_no_series_and_others_stay() {
        let metrics = Metrics::new();
        for id in ["gone", "kept"] {
            metrics.records_read.get_or_create(&ResourceLabels::new(id, "incidents")).inc();
            metrics.events_produced.get_or_create(&ResourceLabels::new(id, "incidents")).inc();
            let poll = PollLabels { instance: id.into(), resource: "incidents".into(), outcome: POLL_ERROR };
            metrics.polls.get_or_create(&poll).inc();
            metrics.deliveries.get_or_create(&DeliveryLabels { instance: id.into(), outcome: RETRY }).inc();
            metrics.delivery_latency.get_or_create(&InstanceLabels { instance: id.into() }).observe(0.1);
        }
        metrics.forget_instance("gone", &["incidents".into()]);
        let text = metrics.render();
        assert!(!text.contains("instance=\"gone\""), "{text}");
        assert!(text.matches("instance=\"kept\"").count() > 4, "{text}");
    }
}
