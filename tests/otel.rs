//! OpenTelemetry traces over OTLP/HTTP, received by a real OTLP/HTTP endpoint in the test: it accepts what
//! Palisade posts to `/v1/traces`, decodes the protobuf with opentelemetry-proto's types and finds the spans
//! a user would look for in their tracing backend: one server span per request of `palisade serve`, child of the
//! caller's W3C `traceparent`, and one span per scan.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use common::{authzen, describe, palisade, poll_until, Server};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use prost::Message as _;

/// An OTLP/HTTP receiver on 127.0.0.1: every POST to `/v1/traces` is decoded and kept.
struct Receiver {
    addr: SocketAddr,
    exports: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = exports.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    // One connection may carry several requests (keep-alive).
                    while let Some((path, content_type, body)) = read_request(&mut reader) {
                        let status =
                            if path == "/v1/traces" && content_type == "application/x-protobuf" {
                                let req = ExportTraceServiceRequest::decode(body.as_slice())
                                    .expect("the body is an ExportTraceServiceRequest");
                                kept.lock().unwrap().push(req);
                                "200 OK"
                            } else {
                                "400 Bad Request"
                            };
                        let answer = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
                        );
                        if (&conn).write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { addr, exports }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, with its resource's `service.name`.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for req in self.exports.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| string_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }
}

/// Reads one HTTP/1.1 request: (path, content type, body), or `None` at the end of the connection.
fn read_request(r: &mut BufReader<std::net::TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().ok()?,
            "content-type" => content_type = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some((path, content_type, body))
}

fn string_attr(
    attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[test]
fn a_request_span_continues_the_callers_trace_and_each_scan_has_a_span() {
    let receiver = Receiver::start();
    let server = Server::builder()
        .config(&format!(
            "[observability]\notlp_endpoint = \"{}\"\n",
            receiver.endpoint()
        ))
        .start();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    Server::send(
        server
            .client
            .post(server.url("/access/v1/evaluation"))
            .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
            .json(&authzen("User:alice", "read", "Document:roadmap")),
    )
    .expect(200);
    // A request without a traceparent starts a trace of its own.
    Server::send(
        server
            .client
            .post(server.url("/access/v1/evaluation"))
            .json(&authzen("User:alice", "read", "Document:roadmap")),
    )
    .expect(200);

    let evaluation =
        |s: &Span| s.name == "POST /access/v1/evaluation" && s.kind == SpanKind::Server as i32;
    let (service, span) = poll_until("the request's span at the OTLP receiver", || {
        receiver
            .spans()
            .into_iter()
            .find(|(_, s)| evaluation(s) && hex::encode(&s.trace_id) == trace_id)
    });
    assert_eq!(service, "palisade");
    assert_eq!(hex::encode(&span.parent_span_id), parent_id);
    assert_ne!(hex::encode(&span.span_id), parent_id);
    assert_eq!(
        string_attr(&span.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        string_attr(&span.attributes, "url.path").as_deref(),
        Some("/access/v1/evaluation")
    );
    let (_, root) = poll_until("the span of the request without traceparent", || {
        receiver
            .spans()
            .into_iter()
            .find(|(_, s)| evaluation(s) && hex::encode(&s.trace_id) != trace_id)
    });
    assert!(root.parent_span_id.is_empty(), "{root:?}");
    assert_eq!(root.trace_id.len(), 16);

    // A scan, configured through OpenTelemetry's own variable, exports its span before the command exits.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM debian:12.8-slim\nUSER 10001\n",
    )
    .unwrap();
    let out = palisade()
        .current_dir(dir.path())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .args(["scan", "config", ".", "-f", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        describe(&out)
    );
    let scans: Vec<Span> = receiver
        .spans()
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == "scan config")
        .collect();
    assert_eq!(scans.len(), 1, "{:?}", receiver.spans());
    assert!(scans[0].end_time_unix_nano >= scans[0].start_time_unix_nano);
}
