//! TLS over a connection's socket: OpenSSL (the openssl crate, built vendored) driven by
//! the event loop. `TlsStream` (here) reads and writes through a session with the same
//! readiness-driven `&self` methods as a plain socket (io.rs), so the client connection,
//! cosockets and upstream connections use TLS without knowing it; the handshake loop both
//! sides share is here too. `server.rs`: the server's handshake (SNI, the Lua hooks);
//! `client.rs`: the client's (contexts, verification after the handshake, as nginx).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ssl::{ErrorCode, Ssl, SslOptions, SslRef, SslStream};

use crate::io::Stream;
use crate::log::Level;

mod client;
mod keys;
mod openssl_conf;
mod server;

pub use client::*;
pub use keys::*;
pub use openssl_conf::*;
pub use server::*;

/// The plain socket under a session, as OpenSSL sees it: reads and writes that never
/// block (a WouldBlock also clears the event loop's readiness).
struct Plain {
    sock: Rc<Stream>,
    /// The last read took less than it could: the socket was drained then (OpenSSL reads
    /// ahead, so this is what a short read of the plain socket means to io.rs).
    drained: bool,
}

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.sock.try_read(buf);
        self.drained = matches!(r, Ok(n) if n < buf.len());
        r
    }
}

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the socket must become before the last operation can go on, when that is not
/// what its direction suggests: a read that must first write (a TLS 1.3 key update's
/// answer), a write that must first read (a renegotiation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    Usual,
    Read,
    Write,
}

pub struct TlsStream {
    sock: Rc<Stream>,
    ssl: RefCell<SslStream<Plain>>,
    want: Cell<Want>,
    /// `ssl_buffer_size`: the most one write puts into a record.
    record_limit: usize,
    /// A fatal error was seen: no close_notify at the end (OpenSSL forbids it).
    broken: Cell<bool>,
}

impl TlsStream {
    fn new(sock: Rc<Stream>, ssl: Ssl, record_limit: usize) -> io::Result<TlsStream> {
        let plain = Plain {
            sock: sock.clone(),
            drained: false,
        };
        let s = SslStream::new(ssl, plain).map_err(io::Error::other)?;
        Ok(TlsStream {
            sock,
            ssl: RefCell::new(s),
            want: Cell::new(Want::Usual),
            record_limit: record_limit.max(1),
            broken: Cell::new(false),
        })
    }

    /// The session, for variables and the Lua API (`$ssl_protocol`, ngx.ssl).
    pub fn with_ssl<T>(&self, f: impl FnOnce(&SslRef) -> T) -> T {
        f(self.ssl.borrow().ssl())
    }

    /// The socket under the session.
    pub fn socket(&self) -> &Stream {
        &self.sock
    }

    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let r = {
            let mut ssl = self.ssl.borrow_mut();
            // (only a read this call makes may say the socket is drained)
            ssl.get_mut().drained = false;
            ssl.ssl_read(buf)
        };
        match r {
            Ok(n) => {
                self.want.set(Want::Usual);
                Ok(n)
            }
            Err(e) => match e.code() {
                c @ (ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => Err(self.wait_for(c, true)),
                // close_notify, or the end of the stream without it (nginx takes both
                // as the end)
                ErrorCode::ZERO_RETURN => Ok(0),
                ErrorCode::SYSCALL if e.io_error().is_none() => Ok(0),
                _ => Err(self.fatal(e)),
            },
        }
    }

    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let len = buf.len();
        let cap = buf.capacity().max(len + 1);
        buf.resize(cap, 0);
        let r = self.try_read(&mut buf[len..]);
        buf.truncate(len + *r.as_ref().unwrap_or(&0));
        r
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.record_limit);
        let r = self.ssl.borrow_mut().ssl_write(&buf[..n]);
        match r {
            Ok(n) => {
                self.want.set(Want::Usual);
                Ok(n)
            }
            Err(e) => match e.code() {
                c @ (ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => Err(self.wait_for(c, false)),
                ErrorCode::ZERO_RETURN => Err(io::ErrorKind::BrokenPipe.into()),
                _ => Err(self.fatal(e)),
            },
        }
    }

    /// OpenSSL's WANT_READ / WANT_WRITE as WouldBlock, remembering what the socket must
    /// become when that is not what the call's direction (`reading`) suggests.
    fn wait_for(&self, code: ErrorCode, reading: bool) -> io::Error {
        let want = match (code == ErrorCode::WANT_READ, reading) {
            (true, false) => Want::Read,
            (false, true) => Want::Write,
            _ => Want::Usual,
        };
        self.want.set(want);
        io::ErrorKind::WouldBlock.into()
    }

    fn fatal(&self, e: openssl::ssl::Error) -> io::Error {
        self.broken.set(true);
        match e.into_io_error() {
            Ok(io) => io,
            Err(e) => io::Error::other(match e.ssl_error() {
                Some(stack) => error_text(stack),
                None => e.to_string(),
            }),
        }
    }

    /// Bytes wait in the session, decrypted or read ahead (the socket may have nothing
    /// more).
    pub fn has_buffered(&self) -> bool {
        // SAFETY: the session is ours and alive; SSL_has_pending only reads its buffers.
        unsafe { SSL_has_pending(self.ssl.borrow().ssl().as_ptr()) == 1 }
    }

    /// Forgets the socket's read readiness when its last read drained it and the session
    /// holds nothing: the next read waits for epoll instead of paying for an EAGAIN (as
    /// io.rs does for a plain socket after a short read).
    pub fn clear_read_ready(&self) {
        if self.ssl.borrow().get_ref().drained && !self.has_buffered() {
            self.sock.clear_read_ready();
        }
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_buffered() {
            return Poll::Ready(Ok(()));
        }
        match self.want.get() {
            Want::Write => self.sock.poll_write_ready(cx),
            _ => self.sock.poll_read_ready(cx),
        }
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.want.get() {
            Want::Read => self.sock.poll_read_ready(cx),
            _ => self.sock.poll_write_ready(cx),
        }
    }

    /// Sends close_notify (once) and ends the socket's writing side.
    pub fn shutdown_write(&self) {
        self.close_notify();
        self.sock.shutdown_write();
    }

    fn close_notify(&self) {
        if self.broken.get() {
            return;
        }
        if let Ok(mut s) = self.ssl.try_borrow_mut() {
            // (one try: a socket that cannot take the alert now is not waited for)
            let _ = s.shutdown();
        }
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        self.close_notify();
    }
}

/// Why a handshake ended without a session: the line nginx logs, and its level.
#[derive(Debug)]
pub struct HandshakeFailure {
    pub level: Level,
    pub text: String,
}

impl HandshakeFailure {
    fn new(level: Level, text: impl Into<String>) -> HandshakeFailure {
        HandshakeFailure {
            level,
            text: text.into(),
        }
    }
}

/// Protocols (`ssl_protocols`, `lua_ssl_protocols`, `proxy_ssl_protocols`) as bits.
pub const SSLV3: u8 = 1;
pub const TLSV1: u8 = 2;
pub const TLSV1_1: u8 = 4;
pub const TLSV1_2: u8 = 8;
pub const TLSV1_3: u8 = 16;

/// The bits of a protocols directive's words, or the word nginx refuses.
pub fn protocol_bits<'a>(words: impl Iterator<Item = &'a str>) -> Result<u8, String> {
    let mut bits = 0;
    for p in words {
        bits |= match p {
            // (SSLv2 is gone from OpenSSL; nginx accepts the word)
            "SSLv2" => 0,
            "SSLv3" => SSLV3,
            "TLSv1" => TLSV1,
            "TLSv1.1" => TLSV1_1,
            "TLSv1.2" => TLSV1_2,
            "TLSv1.3" => TLSV1_3,
            other => return Err(format!("invalid value \"{other}\"")),
        };
    }
    Ok(bits)
}

/// The options that leave only `bits`' protocols (and nginx's other defaults) on.
pub fn protocol_options(bits: u8) -> SslOptions {
    let mut options = SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::from_bits_retain(openssl_sys::SSL_OP_IGNORE_UNEXPECTED_EOF as _);
    for (bit, off) in [
        (SSLV3, SslOptions::NO_SSLV3),
        (TLSV1, SslOptions::NO_TLSV1),
        (TLSV1_1, SslOptions::NO_TLSV1_1),
        (TLSV1_2, SslOptions::NO_TLSV1_2),
        (TLSV1_3, SslOptions::NO_TLSV1_3),
    ] {
        if bits & bit == 0 {
            options |= off;
        }
    }
    options
}

/// Steps a handshake until it ends: waits for the socket as OpenSSL asks, and runs the
/// certificate hook (`hook_run`) when OpenSSL says its callback waits.
async fn handshake<F: Future<Output = ()>>(
    t: &TlsStream,
    mut step: impl FnMut() -> Result<(), openssl::ssl::Error>,
    mut hook_run: impl FnMut() -> F,
    timeout: Duration,
    timed_out: &str,
) -> Result<(), HandshakeFailure> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let e = match step() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let ready = match e.code() {
            c if c.as_raw() == openssl_sys::SSL_ERROR_WANT_X509_LOOKUP
                || c.as_raw() == openssl_sys::SSL_ERROR_WANT_CLIENT_HELLO_CB =>
            {
                tokio::time::timeout_at(deadline, async {
                    hook_run().await;
                    Ok(())
                })
                .await
            }
            ErrorCode::WANT_READ => {
                tokio::time::timeout_at(deadline, std::future::poll_fn(|cx| t.sock.poll_read_ready(cx))).await
            }
            ErrorCode::WANT_WRITE => {
                tokio::time::timeout_at(deadline, std::future::poll_fn(|cx| t.sock.poll_write_ready(cx))).await
            }
            _ => {
                t.broken.set(true);
                return Err(handshake_error(e));
            }
        };
        match ready {
            Err(_) => {
                t.broken.set(true);
                return Err(HandshakeFailure::new(Level::Info, timed_out));
            }
            Ok(Err(e)) => {
                t.broken.set(true);
                return Err(HandshakeFailure::new(Level::Info, format!("{e}")));
            }
            Ok(Ok(())) => {}
        }
    }
}

/// nginx's words for a failed handshake (ngx_ssl_handshake, ngx_ssl_connection_error):
/// what the client caused is logged at info, the rest at crit.
fn handshake_error(e: openssl::ssl::Error) -> HandshakeFailure {
    let stack = e.ssl_error().cloned();
    match (e.code(), e.into_io_error()) {
        (_, Ok(io)) => {
            let level = match io.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected => Level::Info,
                _ => Level::Crit,
            };
            let errno = io.raw_os_error().unwrap_or(0);
            HandshakeFailure::new(
                level,
                format!(
                    "SSL_do_handshake() failed (SSL: error:80000{errno:03X}:system library::{})",
                    conf::os_reason(&io)
                ),
            )
        }
        (ErrorCode::SYSCALL, Err(_)) | (ErrorCode::ZERO_RETURN, Err(_))
            if stack.as_ref().is_none_or(|s| s.errors().is_empty()) =>
        {
            HandshakeFailure::new(Level::Info, "peer closed connection in SSL handshake")
        }
        (_, Err(e)) => {
            let stack = stack.unwrap_or_else(ErrorStack::get);
            let level = if stack.errors().iter().any(|x| x.reason().is_some_and(client_caused)) {
                Level::Info
            } else {
                Level::Crit
            };
            let text = if stack.errors().is_empty() {
                e.to_string()
            } else {
                error_text(&stack)
            };
            HandshakeFailure::new(level, format!("SSL_do_handshake() failed {text}"))
        }
    }
}

/// Reasons that say the client sent something wrong (nginx logs them at info).
fn client_caused(reason: &str) -> bool {
    const REASONS: &[&str] = &[
        "no shared cipher",
        "wrong version number",
        "http request",
        "https proxy request",
        "unsupported protocol",
        "version too low",
        "unknown protocol",
        "bad key share",
        "no suitable key share",
        "no shared group",
        "length mismatch",
        "unexpected message",
        "unexpected record",
        "record length mismatch",
        "no ciphers specified",
        "no ciphers passed",
        "no protocols available",
        "excessive message size",
        "packet length too long",
        "bad packet length",
        "decryption failed or bad record mac",
        "unexpected eof while reading",
        "bad record type",
        "inappropriate fallback",
        "unknown alert type",
        "callback failed",
        "peer did not return a certificate",
        "certificate verify failed",
    ];
    REASONS.contains(&reason)
        || reason.starts_with("sslv3 alert")
        || reason.starts_with("tlsv1 alert")
        || reason.starts_with("tlsv13 alert")
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_has_pending(ssl: *const openssl_sys::SSL) -> std::ffi::c_int;
}

/// An error's reason as nginx prints it: a system error (OpenSSL 3 keeps the errno in
/// the code, flagged, and names no reason for it) reads as the system's text.
fn reason(e: &openssl::error::Error) -> String {
    const ERR_SYSTEM_FLAG: u64 = 0x8000_0000;
    match e.reason() {
        Some(r) => r.to_string(),
        None if e.code() & ERR_SYSTEM_FLAG != 0 => {
            conf::os_reason(&std::io::Error::from_raw_os_error((e.code() & !ERR_SYSTEM_FLAG) as i32))
        }
        None => "reason(0)".to_string(),
    }
}

/// OpenSSL's queued errors as nginx prints them:
/// `(SSL: error:0A0000C1:SSL routines::no shared cipher)`.
pub fn error_text(stack: &ErrorStack) -> String {
    let mut s = String::from("(SSL:");
    for e in stack.errors() {
        s.push_str(&format!(
            " error:{:08X}:{}::{}",
            e.code(),
            e.library().unwrap_or("unknown library"),
            reason(e)
        ));
        if let Some(d) = e.data() {
            s.push(':');
            s.push_str(d);
        }
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ssl::{SslContext, SslMethod, SslVerifyMode};

    fn server_context() -> SslContext {
        let key = openssl::pkey::PKey::ec_gen("prime256v1").unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test.local").unwrap();
        let name = name.build();
        let mut cert = openssl::x509::X509Builder::new().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, openssl::hash::MessageDigest::sha256()).unwrap();
        let mut b = openssl::ssl::SslContextBuilder::new(SslMethod::tls_server()).unwrap();
        b.set_certificate(&cert.build()).unwrap();
        b.set_private_key(&key).unwrap();
        // (as modules/ssl.rs makes them)
        b.set_read_ahead(true);
        b.build()
    }

    fn picked(ctx: &SslContext) -> Picked {
        Picked {
            context: ctx.clone(),
            hooks: Hooks::default(),
        }
    }

    fn facts() -> HandshakeFacts {
        HandshakeFacts::new(None, None, Rc::from(""), 0)
    }

    /// A server and a client session over a socket pair, handshaken (the server writes
    /// records of at most `record_limit` bytes).
    async fn session_pair(record_limit: usize) -> (TlsStream, TlsStream) {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let ctx = server_context();
        let server = async {
            accept(
                Stream::Unix(a),
                picked(&ctx),
                Rc::new(|_| None),
                facts(),
                record_limit,
                Duration::from_secs(5),
            )
            .await
            .unwrap()
        };
        let client = async {
            let mut c = openssl::ssl::SslContextBuilder::new(SslMethod::tls_client()).unwrap();
            c.set_verify(SslVerifyMode::NONE);
            let offer = Offer {
                server_name: Some("test.local"),
                ..Offer::default()
            };
            connect(Stream::Unix(b), &c.build(), offer, Duration::from_secs(5))
                .await
                .unwrap()
        };
        tokio::join!(server, client)
    }

    /// Both sides over a socket pair on one event loop: the handshake, then bytes both
    /// ways through the `&self` methods, a large write in small records, and the end.
    #[test]
    fn handshake_and_bytes_both_ways() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (s, c) = session_pair(4096).await;
            let (s, c) = (Stream::Tls(Box::new(s)), Stream::Tls(Box::new(c)));
            let big = vec![7u8; 100_000];
            let send = async {
                let mut io = crate::io::Io::new(s);
                io.write_all(&big, Duration::from_secs(5)).await.unwrap();
                io.stream.shutdown_write();
                io
            };
            let recv = async {
                let mut io = crate::io::Io::new(c);
                let mut got = 0;
                loop {
                    match io.fill(65536, Duration::from_secs(5)).await {
                        Ok(_) => {
                            got += io.pending().len();
                            let n = io.pending().len();
                            io.consume(n);
                        }
                        Err(crate::io::ReadError::Closed) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                got
            };
            let (_io, got) = tokio::join!(send, recv);
            assert_eq!(got, big.len());
        });
    }

    /// Records that arrive together (pipelined requests) are all read, though the first
    /// read takes them all from the socket: readiness is kept while the session holds
    /// some; records that come later wake the reader.
    #[test]
    fn records_read_ahead_are_not_lost() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (s, c) = session_pair(16384).await;
            let mut server = crate::io::Io::new(Stream::Tls(Box::new(s)));
            let client = Stream::Tls(Box::new(c));
            // three records at once, then one more a moment later
            for part in [&b"one "[..], b"two ", b"three "] {
                assert_eq!(client.try_write(part).unwrap(), part.len());
            }
            let late = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                assert_eq!(client.try_write(b"four").unwrap(), 4);
            };
            let read = async {
                let mut got = Vec::new();
                while got.len() < 18 {
                    server
                        .fill(4096, Duration::from_secs(2))
                        .await
                        .expect("no record is lost");
                    got.extend_from_slice(server.pending());
                    let n = server.pending().len();
                    server.consume(n);
                }
                got
            };
            let (_, got) = tokio::join!(late, read);
            assert_eq!(got, b"one two three four");
        });
    }

    #[test]
    fn plain_bytes_fail_the_handshake_at_info() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            b.try_write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let ctx = server_context();
            let e = accept(
                Stream::Unix(a),
                picked(&ctx),
                Rc::new(|_| None),
                facts(),
                16384,
                Duration::from_secs(5),
            )
            .await
            .err()
            .unwrap();
            assert_eq!(e.level, Level::Info, "{}", e.text);
            assert!(e.text.contains("SSL routines::http request"), "{}", e.text);
            drop(b);
        });
    }

    #[test]
    fn a_silent_client_times_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, _b) = tokio::net::UnixStream::pair().unwrap();
            let ctx = server_context();
            let e = accept(
                Stream::Unix(a),
                picked(&ctx),
                Rc::new(|_| None),
                facts(),
                16384,
                Duration::from_millis(50),
            )
            .await
            .err()
            .unwrap();
            assert!(e.text.starts_with("client timed out"), "{}", e.text);
        });
    }
}
