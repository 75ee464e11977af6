//! Request bodies and streamed output through a real connection, with a test content
//! handler plugged in the way modules plug in (an installer).

use oxiresty_http as http;
use std::path::Path;
use std::rc::Rc;

use http::builder::{HttpBuilder, LocDraft};
use http::module::{Module, Phases};
use http::phase::{Flow, Handler, Step};
use http::request::{Body, Request};
use http::worker::ListenGroup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads the body and answers where it went and how long it is.
struct EchoBody;

impl Handler for EchoBody {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        Step::Pending(Box::pin(async move {
            if let Err(code) = r.read_body().await {
                return Flow::Finish(code);
            }
            let text = match &r.body {
                Body::Memory(b) => format!("memory {} {}", b.len(), String::from_utf8_lossy(b)),
                Body::File(f, n) => {
                    let on_disk = std::fs::read(&f.0).map(|d| d.len()).unwrap_or(0);
                    format!("file {n} {on_disk}")
                }
                other => format!("{other:?}"),
            };
            r.status = 200;
            r.respond(text.as_bytes()).await;
            Flow::Done
        }))
    }
}

/// Streams three pieces without a Content-Length.
struct Stream3;

impl Handler for Stream3 {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        Step::Pending(Box::pin(async move {
            r.status = 200;
            for piece in ["one ", "two ", "three"] {
                r.send_body(piece.as_bytes(), false).await;
                r.flush().await;
            }
            r.send_body(&[], true).await;
            Flow::Done
        }))
    }
}

/// A rewrite-phase handler that moves the request to another URI (as `rewrite ... last`
/// or `ngx.req.set_uri(uri, true)` do): post-rewrite must look the location up again.
struct RewriteTo(&'static str);

impl Handler for RewriteTo {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        r.uri = self.0.to_string();
        r.uri_changed = true;
        Step::Ready(Flow::PhaseDone)
    }
}

/// An access-phase handler that denies.
struct Deny;

impl Handler for Deny {
    fn handle<'a>(&'a self, _r: &'a mut Request) -> Step<'a> {
        Step::Ready(Flow::Finish(403))
    }
}

/// The test's own module, after the core and the log module it needs.
static TEST_MODULE: Module = Module {
    install: Some(install),
    ..Module::new("test_module", &[])
};

static MODULES: &[&Module] = &[&http::core_module::MODULE, &http::modules::log::MODULE, &TEST_MODULE];

fn build(prefix: &Path, cmds: &[conf::Cmd]) -> http::config::HttpConf {
    let reg = http::registry(MODULES);
    http::build(&reg, MODULES, prefix, &prefix.join("conf"), cmds).unwrap()
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> conf::Result<()> {
    if let Some(http::config::Match::Exact(p)) = &d.matcher {
        match p.as_str() {
            "/echo" => t.content = Some(Rc::new(EchoBody)),
            "/stream" => t.content = Some(Rc::new(Stream3)),
            "/rw" => t.rewrite.push(Rc::new(RewriteTo("/stream"))),
            "/loop" => t.rewrite.push(Rc::new(RewriteTo("/loop"))),
            "/deny" => t.access.push(Rc::new(Deny)),
            _ => {}
        }
    }
    Ok(())
}

/// Serves `request` on one in-memory connection and returns all the server wrote.
fn exchange(conf_text: &str, request: &[u8]) -> String {
    let prefix = std::env::temp_dir().join(format!("oxr-http-test-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&prefix).unwrap();
    let cmds = conf::parse_bytes(conf_text.as_bytes(), &prefix.join("nginx.conf"), &prefix).unwrap();
    let conf = Rc::new(build(&prefix, cmds[0].children()));
    let groups = http::worker::listen_groups(&conf);
    let group = Rc::new(ListenGroup {
        ..groups.into_iter().next().unwrap()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let out = local.block_on(&rt, async move {
        let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let server = tokio::task::spawn_local(http::conn::serve(http::io::Stream::Unix(a), None, None, 1, group, conf));
        b.write_all(request).await.unwrap();
        let mut out = Vec::new();
        b.read_to_end(&mut out).await.unwrap();
        drop(b);
        server.await.unwrap();
        out
    });
    let _ = std::fs::remove_dir_all(Path::new(&prefix));
    String::from_utf8_lossy(&out).into_owned()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const CONF: &str = "http { access_log off; server { listen 127.0.0.1:1; client_body_buffer_size 16; \
                    location = /echo { } location = /stream { } location = /rw { } location = /loop { } \
                    location = /deny { } } }";

#[test]
fn post_rewrite_finds_the_location_again() {
    let out = exchange(CONF, b"GET /rw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.ends_with("0\r\n\r\n") && out.contains("three"), "{out}");
}

#[test]
fn a_rewrite_loop_ends_in_500() {
    let out = exchange(CONF, b"GET /loop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{out}");
}

#[test]
fn access_phase_can_deny() {
    let out = exchange(CONF, b"GET /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{out}");
}

#[test]
fn small_body_stays_in_memory() {
    let out = exchange(
        CONF,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(out.ends_with("memory 5 hello"), "{out}");
}

#[test]
fn large_body_spools_to_a_temp_file() {
    let body = "x".repeat(100);
    let req = format!("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n{body}");
    let out = exchange(CONF, req.as_bytes());
    assert!(out.ends_with("file 100 100"), "{out}");
}

#[test]
fn chunked_body_is_decoded() {
    let out = exchange(
        CONF,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert!(out.ends_with("memory 5 abcde"), "{out}");
}

#[test]
fn expect_continue_is_answered_before_the_body_is_read() {
    let out = exchange(
        CONF,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    );
    assert!(
        out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{out}"
    );
    assert!(out.ends_with("memory 2 ok"), "{out}");
}

#[test]
fn too_large_chunked_body_is_413() {
    let conf = CONF.replace("client_body_buffer_size 16;", "client_max_body_size 4;");
    let out = exchange(
        &conf,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"), "{out}");
}

#[test]
fn streamed_output_is_chunked_for_http11() {
    let out = exchange(CONF, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
    assert!(
        out.ends_with("\r\n\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"),
        "{out}"
    );
}

#[test]
fn streamed_output_for_http10_closes_to_end_the_body() {
    let out = exchange(CONF, b"GET /stream HTTP/1.0\r\n\r\n");
    assert!(!out.contains("Transfer-Encoding"), "{out}");
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\none two three"), "{out}");
}

#[test]
fn head_of_a_streamed_response_has_no_body() {
    let out = exchange(CONF, b"HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.ends_with("\r\n\r\n"), "{out}");
    assert!(!out.contains("one"), "{out}");
}

/// An idle keepalive connection is this future: it must stay small (the request lives in a
/// boxed future only while there is one).
#[test]
fn connection_future_stays_small() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, _b) = tokio::net::UnixStream::pair().unwrap();
        let prefix = std::env::temp_dir();
        let cmds = conf::parse_bytes(CONF.as_bytes(), &prefix.join("n.conf"), &prefix).unwrap();
        let conf = Rc::new(build(&prefix, cmds[0].children()));
        let group = Rc::new(http::worker::listen_groups(&conf).into_iter().next().unwrap());
        let f = http::conn::serve(http::io::Stream::Unix(a), None, None, 1, group, conf);
        let size = std::mem::size_of_val(&f);
        assert!(size <= 1024, "connection future is {size} bytes");
    });
}
