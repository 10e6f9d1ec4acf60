//! Traces of a change's way through the service: the spans a poll, its page
//! reads, its mapping, its commits and each later delivery attempt make, so
//! an operator can follow one Autotask change to its webhook in a tracing
//! backend (`[telemetry]`, exported by the command that runs the service).
//!
//! The spans have a target of their own, [`TARGET`]: the exporter takes
//! those, and the log leaves them out, so log lines read as they do without
//! telemetry. Without an exporter no one takes them, and `tracing` skips
//! them at their call sites.
//!
//! A delivery happens later, in the instance's delivery worker: to keep the
//! trace whole, each committed message remembers the span context of the
//! poll that made it (see [`remember`]), and its `deliver` spans are that
//! poll's children.

mod contexts;

use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of every span meant for the trace exporter.
pub const TARGET: &str = "autotask_events::trace";

/// The header that carries a delivery's trace to the receiver (W3C Trace Context).
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The span of one poll (or push pass) of one resource: the root of its
/// trace. Its counts are recorded by [`record_poll`].
pub fn poll_span(instance: &str, resource: &str, trigger: &'static str) -> Span {
    tracing::info_span!(
        target: TARGET,
        parent: None,
        "poll",
        instance,
        resource,
        trigger,
        pages = tracing::field::Empty,
        records = tracing::field::Empty,
        events = tracing::field::Empty,
        messages = tracing::field::Empty,
        failed = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    )
}

/// What a poll found and made, or why it failed, on its span.
pub fn record_poll<E: std::fmt::Display>(span: &Span, polled: Result<&crate::service::poll::PollSummary, &E>) {
    match polled {
        Ok(summary) => {
            span.record("pages", summary.pages);
            span.record("records", summary.records);
            span.record("events", summary.events);
            span.record("messages", summary.messages);
            span.record("failed", summary.failed);
        }
        Err(error) => record_error(span, error),
    }
}

/// Marks `span` failed, with why (texts the log shows too: no secrets).
pub fn record_error(span: &Span, error: &dyn std::fmt::Display) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", tracing::field::display(error));
}

/// Remembers that the messages `message_ids` were made under `poll` (the
/// current span when a poll commits), for their deliveries' spans. Nothing is
/// kept when no exporter takes the spans.
pub fn remember<'a>(message_ids: impl IntoIterator<Item = &'a str>, poll: &Span) {
    if poll.is_disabled() {
        return;
    }
    let context = poll.context();
    let span = context.span();
    let poll = span.span_context();
    if poll.is_valid() {
        contexts::remember(message_ids, poll);
    }
}

/// The span of one delivery attempt of message `message_id`: a child of the
/// poll that made the message, when this process made it and still remembers
/// it (see [`contexts`]), else the root of a trace of its own.
pub fn deliver_span(instance: &str, message_id: &str, attempt: u32) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        parent: None,
        "deliver",
        instance,
        message.id = message_id,
        attempt,
        otel.kind = "client",
        http.response.status_code = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    if !span.is_disabled()
        && let Some(poll) = contexts::poll_of(message_id)
    {
        // Set before anything reads the span's context: that starts it, and its parent is fixed then.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(poll));
    }
    span
}

/// How a delivery attempt went, on its span: `latency_ms` is the time until
/// the callback answered (or failed to).
pub fn record_attempt(span: &Span, outcome: &'static str, latency: std::time::Duration, error: Option<&str>) {
    span.record("outcome", outcome);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    if let Some(error) = error {
        record_error(span, &error);
    }
}

/// The `traceparent` header value that continues `span`'s trace at the
/// receiver, when `span` is exported.
pub fn traceparent(span: &Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span = context.span();
    format_traceparent(span.span_context())
}

/// `00-<trace id>-<span id>-<flags>`, as W3C Trace Context writes it.
fn format_traceparent(span: &SpanContext) -> Option<String> {
    span.is_valid().then(|| format!("00-{}-{}-{:02x}", span.trace_id(), span.span_id(), span.trace_flags().to_u8()))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    #[test]
    fn traceparent_is_written_as_w3c_trace_context_says() {
        let span = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        assert_eq!(
            format_traceparent(&span).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(format_traceparent(&SpanContext::empty_context()), None, "no trace, no header");
    }

    #[test]
    fn without_an_exporter_nothing_is_remembered_nor_sent() {
        // No subscriber takes the spans here: they are disabled.
        let poll = poll_span("acme", "incidents", "poll");
        remember(["message-1"], &poll);
        assert!(contexts::poll_of("message-1").is_none());
        let deliver = deliver_span("acme", "message-1", 1);
        assert_eq!(traceparent(&deliver), None);
    }
}
