//! Logs and traces. Logs go to standard error as text or JSON lines (`observability.log_format`,
//! `--log-format`); traces go over OTLP/HTTP to a collector only when `observability.otlp_endpoint` is
//! set. With no endpoint there is no exporter, no OpenTelemetry layer and no per-request tracing
//! middleware: tracing costs nothing when it is off.
//!
//! Traced: every HTTP request of `palisade serve` (decisions, issuance, admin) as a server span whose
//! parent is the caller's W3C `traceparent`, and every scan (`scan config|image|fs|rootfs|sbom`).

use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message` and the event's fields).
    Json,
}

/// `[observability]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObservabilityConfig {
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL (`http://collector:4318`); spans go to `<endpoint>/v1/traces`.
    /// Empty: no traces.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            otlp_endpoint: String::new(),
            service_name: "palisade".into(),
        }
    }
}

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Whether spans are exported (the server adds its request middleware only then).
pub fn tracing_enabled(cfg: &ObservabilityConfig) -> bool {
    !cfg.otlp_endpoint.is_empty()
}

/// Installs the global subscriber: the log layer (filtered by `PALISADE_LOG`, default `info`) and, when an
/// endpoint is configured, the OpenTelemetry layer.
pub fn init(cfg: &ObservabilityConfig) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| "info".into());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match cfg.log_format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let layers: Vec<BoxedLayer> = vec![logs.with_filter(filter).boxed()];
    #[cfg(feature = "otel")]
    let (layers, provider) = if tracing_enabled(cfg) {
        let (provider, layer) = otel::layer(cfg)?;
        let mut layers = layers;
        layers.push(layer);
        (layers, Some(provider))
    } else {
        (layers, None)
    };
    #[cfg(not(feature = "otel"))]
    anyhow::ensure!(
        !tracing_enabled(cfg),
        "observability.otlp_endpoint is set, but this build has no OpenTelemetry exporter (feature `otel`)"
    );
    tracing_subscriber::registry().with(layers).init();
    Ok(Telemetry {
        #[cfg(feature = "otel")]
        provider,
    })
}

type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// `palisade serve`'s middleware: one server span per request, child of the caller's `traceparent`.
pub async fn http_span(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        target: "palisade::http",
        "http.request",
        otel.name = %format!("{} {}", req.method(), req.uri().path()),
        otel.kind = "server",
        http.request.method = %req.method(),
        url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    otel::set_parent(&span, req.headers());
    let resp = next.run(req).instrument(span.clone()).await;
    span.record("http.response.status_code", resp.status().as_u16());
    resp
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::Layer as _;

    use super::ObservabilityConfig;

    pub(super) fn layer(
        cfg: &ObservabilityConfig,
    ) -> anyhow::Result<(SdkTracerProvider, super::BoxedLayer)> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!(
                "{}/v1/traces",
                cfg.otlp_endpoint.trim_end_matches('/')
            ))
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(cfg.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("palisade");
        // Only Palisade's own spans are exported, at info and above.
        let targets = tracing_subscriber::filter::Targets::new()
            .with_target("palisade", tracing::Level::INFO);
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(targets)
            .boxed();
        Ok((provider, layer))
    }

    struct Headers<'a>(&'a axum::http::HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    /// Makes `span` a child of the W3C trace context in `headers` (`traceparent`, `tracestate`), if any.
    pub(super) fn set_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
        let cx = TraceContextPropagator::new().extract(&Headers(headers));
        let _ = span.set_parent(cx);
    }
}
