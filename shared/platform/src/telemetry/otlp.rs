//! Traces over OTLP/HTTP (protobuf), off by default. The standard variables turn it on and shape
//! it: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base, `/v1/traces` appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL); `OTEL_SDK_DISABLED=true` or
//! `OTEL_TRACES_EXPORTER=none` keep it off; `OTEL_SERVICE_NAME` (default `city-<service>`,
//! `city-gateway` or `city`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` as the OpenTelemetry SDK reads them.
//!
//! One request is one trace across processes: every process derives the trace id from the
//! request id (which the gateway sets and every internal call carries, with a `traceparent` of
//! the same trace: `peers::trace_headers`), so a collector shows the gateway's, booking's and
//! identity's spans of a booking together without any process trusting a client's trace id.

use std::sync::OnceLock;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether the `OTEL_*` variables of `env` ask for trace export.
pub fn wanted(env: impl Fn(&str) -> Option<String>) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let exporter = env("OTEL_TRACES_EXPORTER").unwrap_or_default();
    let exporter_ok = exporter.trim().is_empty() || exporter.split(',').any(|e| e.trim() == "otlp");
    !disabled && exporter_ok && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The service name a process reports when `OTEL_SERVICE_NAME` is unset, from its command
/// line: `serve --only booking` is `city-booking`, `serve --gateway` is `city-gateway`.
pub fn default_service_name(args: &[String]) -> String {
    if let Some(i) = args.iter().position(|a| a == "--only") {
        if let Some(name) = args.get(i + 1) {
            return format!("city-{name}");
        }
    }
    if let Some(name) = args.iter().find_map(|a| a.strip_prefix("--only=")) {
        return format!("city-{name}");
    }
    if args.iter().any(|a| a == "--gateway") {
        return "city-gateway".into();
    }
    "city".into()
}

/// The export layer, when asked for and not yet installed in this process; `None` otherwise
/// (a disabled layer costs nothing).
pub fn layer<S>() -> Option<impl tracing_subscriber::Layer<S>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    if !wanted(|k| std::env::var(k).ok()) || PROVIDER.get().is_some() {
        return None;
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    if !protocol.is_empty() && protocol != "http/protobuf" {
        // Said on stderr: the subscriber that would log it is being built.
        eprintln!("city: OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not built in; exporting http/protobuf");
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("city: OTLP trace export not started: {err}");
            return None;
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        let args: Vec<String> = std::env::args().collect();
        resource = resource.with_service_name(default_service_name(&args));
    }
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
    let tracer = provider.tracer("city");
    let _ = PROVIDER.set(provider);
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Whether this process exports traces.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// Puts `span` (a request's) into the request's trace: the trace id derived from `request_id`
/// (`trace_context::trace_id_of`), under the caller's span when its `traceparent` is of that trace. A
/// no-op when nothing is exported.
pub fn join_trace(span: &tracing::Span, request_id: &str, traceparent: Option<&str>) {
    if !enabled() {
        return;
    }
    let trace = crate::trace_context::trace_id_of(request_id);
    let Ok(trace_id) = TraceId::from_hex(&trace) else { return };
    let caller = traceparent
        .filter(|tp| crate::trace_context::trace_id_in(tp) == Some(trace.as_str()))
        .and_then(|tp| tp.split('-').nth(2))
        .and_then(|id| SpanId::from_hex(id).ok());
    // The first hop has no caller: a parent id of its own, never sent, stands in for one.
    let parent = caller.unwrap_or_else(|| SpanId::from_bytes((rand::random::<u64>() | 1).to_be_bytes()));
    let remote = SpanContext::new(trace_id, parent, TraceFlags::SAMPLED, true, TraceState::default());
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The current span's id (16 hex digits) when traces are exported: the parent id an outgoing
/// `traceparent` names, so the callee's span hangs under the caller's (`peers::traceparent`).
pub fn current_span_id() -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.span_id().to_string())
}

/// Sends the spans still buffered (on a clean shutdown; the exporter also sends every few
/// seconds, `OTEL_BSP_SCHEDULE_DELAY`).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_is_off_unless_an_endpoint_is_given_and_nothing_turns_it_off() {
        fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            move |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        }
        assert!(!wanted(env(&[])));
        assert!(!wanted(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(wanted(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")])));
        assert!(wanted(env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")])));
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert!(!wanted(env(&[on, ("OTEL_SDK_DISABLED", "TRUE")])));
        assert!(!wanted(env(&[on, ("OTEL_TRACES_EXPORTER", "none")])));
        assert!(wanted(env(&[on, ("OTEL_TRACES_EXPORTER", "otlp")])));
    }

    #[test]
    fn a_process_is_named_after_what_it_serves() {
        let args = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(default_service_name(&args("city serve --only booking --listen 0.0.0.0:8080")), "city-booking");
        assert_eq!(default_service_name(&args("city serve --only=identity")), "city-identity");
        assert_eq!(default_service_name(&args("city serve --gateway")), "city-gateway");
        assert_eq!(default_service_name(&args("city serve")), "city");
    }
}
