//! Reading the request body: Content-Length or chunked, `Expect: 100-continue`, the
//! `client_max_body_size` cap, and spooling to a temp file past `client_body_buffer_size`
//! (or always, with `client_body_in_file_only`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::BodyInFileOnly;
use crate::h1::Chunked;
use crate::io::ReadError;
use crate::log::Level;
use crate::request::{Body, Framing, Request};

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Where reading a body piece by piece stands (`Request::next_body_piece`).
pub struct BodyPieces {
    chunked: Chunked,
    /// Bytes of a Content-Length body still to come.
    left: u64,
    /// Bytes of a chunked body so far.
    total: u64,
    /// client_max_body_size for a chunked body (0: none).
    max: u64,
    timeout: Duration,
}

/// Where the body accumulates: memory first, a temp file once it outgrows the buffer.
struct Sink {
    mem: Vec<u8>,
    file: Option<(TempFile, std::fs::File)>,
    len: u64,
}

impl Sink {
    fn push(&mut self, r: &Request, data: &[u8]) -> Result<(), u16> {
        self.len += data.len() as u64;
        if let Some((_, f)) = &mut self.file {
            return f.write_all(data).map_err(|e| {
                r.log(Level::Crit, &format!("write() to client body temp file failed ({e})"));
                500
            });
        }
        self.mem.extend_from_slice(data);
        let in_file_only = r.loc.settings.client_body_in_file_only();
        if self.mem.len() as u64 > r.loc.settings.client_body_buffer_size()
            || (in_file_only != BodyInFileOnly::Off && !self.mem.is_empty())
        {
            let dir = r.http.prefix.join(r.loc.settings.client_body_temp_path().as_path());
            let _ = std::fs::create_dir_all(&dir);
            let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{:010}", (std::process::id() as u64) << 20 | seq));
            let mut f = std::fs::OpenOptions::new()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| {
                    r.log(Level::Crit, &format!("open() \"{}\" failed ({e})", path.display()));
                    500u16
                })?;
            // a spill is worth a warning; a body asked to go to a file only a notice
            let level = if in_file_only == BodyInFileOnly::Off {
                Level::Warn
            } else {
                Level::Notice
            };
            r.log(
                level,
                &format!(
                    "a client request body is buffered to a temporary file {}",
                    path.display()
                ),
            );
            f.write_all(&self.mem).map_err(|_| 500u16)?;
            self.mem = Vec::new();
            // `client_body_in_file_only on` keeps the file after the request
            let removal = if in_file_only == BodyInFileOnly::On {
                Removal::Keep
            } else {
                Removal::Remove
            };
            self.file = Some((TempFile(path, removal), f));
        }
        Ok(())
    }
}

impl Request {
    /// Reads the whole body (once). On failure returns the status to finish with.
    pub async fn read_body(&mut self) -> Result<(), u16> {
        if !matches!(self.body, Body::Unread) || self.discard_pending {
            return Ok(());
        }
        if self.framing == Framing::None {
            self.body = Body::Memory(Vec::new());
            return Ok(());
        }
        let mut sink = Sink {
            mem: Vec::new(),
            file: None,
            len: 0,
        };
        self.pull_body(|r, data| sink.push(r, data), true).await?;
        self.body = match sink.file {
            Some((tf, _)) => Body::File(tf, sink.len),
            None => Body::Memory(sink.mem),
        };
        Ok(())
    }

    /// Reads and drops the body so the connection can carry the next request.
    /// A handler that will not read the body (`return`, static files, `empty_gif`, echo):
    /// as nginx's discard, the answer does not wait for it, the body is read and thrown
    /// away after the response (or the connection closes). A client waiting for `100
    /// Continue` gets it first, body or not, as from nginx.
    /// What has already arrived is looked at now, as nginx's discard reads it: a malformed
    /// chunk there is refused (400) before any answer.
    pub fn discard_later(&mut self) -> Result<(), u16> {
        if self.expect_continue && self.version >= (1, 1) && !self.header_sent {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.expect_continue = false;
        if self.framing == Framing::Chunked && matches!(self.body, Body::Unread) {
            // (a throwaway decoder: the bytes stay for the discard after the answer)
            let mut scratch = Vec::new();
            if let Err(e) = Chunked::default().decode(self.io.pending(), &mut scratch) {
                self.keepalive = false;
                self.log(Level::Info, e.reason);
                return Err(400);
            }
        }
        Ok(())
    }

    pub async fn discard_body(&mut self) -> Result<(), u16> {
        if !matches!(self.body, Body::Unread) {
            return Ok(());
        }
        if self.framing == Framing::None {
            self.body = Body::Discarded;
            return Ok(());
        }
        self.pull_body(|_, _| Ok(()), false).await?;
        self.body = Body::Discarded;
        Ok(())
    }

    /// Drives the framing, handing each piece of body to `take`.
    /// `limited`: `client_max_body_size` applies (not to a body thrown away, as in nginx).
    async fn pull_body(
        &mut self,
        mut take: impl FnMut(&Request, &[u8]) -> Result<(), u16>,
        limited: bool,
    ) -> Result<(), u16> {
        let mut pieces = self.body_pieces(limited)?;
        while let Some(piece) = self.next_body_piece(&mut pieces).await? {
            take(self, &piece)?;
        }
        Ok(())
    }

    /// The whole body has arrived with the head (nginx's pre-read body: then even
    /// `proxy_request_buffering off` sends it whole, with its length).
    pub fn body_preread(&self) -> bool {
        match self.framing {
            Framing::None => true,
            Framing::Length(n) => self.io.pending().len() as u64 >= n,
            Framing::Chunked => {
                let mut scratch = Vec::new();
                let mut decoder = Chunked::default();
                decoder.decode(self.io.pending(), &mut scratch).is_ok() && decoder.done
            }
        }
    }

    /// Starts reading the body piece by piece (`next_body_piece`), for a handler that
    /// passes it on as it comes (`proxy_request_buffering off`). A declared length over
    /// `client_max_body_size` (when `limited`) is refused now: 413.
    pub fn body_pieces(&mut self, limited: bool) -> Result<BodyPieces, u16> {
        let max = if limited {
            self.loc.settings.client_max_body_size()
        } else {
            0
        };
        if let Framing::Length(n) = self.framing
            && max != 0
            && n > max
        {
            self.keepalive = false;
            self.log(
                Level::Error,
                &format!("client intended to send too large body: {n} bytes"),
            );
            return Err(413);
        }
        // (a body thrown away waits as nginx's discard does: lingering_timeout per read)
        let timeout = Duration::from_millis(if limited {
            self.loc.settings.client_body_timeout_ms()
        } else {
            self.loc.settings.lingering_timeout_ms()
        });
        Ok(BodyPieces {
            chunked: Chunked::default(),
            left: match self.framing {
                Framing::Length(n) => n,
                _ => u64::MAX,
            },
            total: 0,
            max,
            timeout,
        })
    }

    /// The next piece of the body (`None`: it has ended); on failure the status to finish
    /// with. A client waiting for `100 Continue` gets it first.
    pub async fn next_body_piece(&mut self, p: &mut BodyPieces) -> Result<Option<Vec<u8>>, u16> {
        if self.framing == Framing::None {
            return Ok(None);
        }
        if self.expect_continue {
            self.expect_continue = false;
            if self.version >= (1, 1) {
                let t = Duration::from_millis(self.loc.settings.send_timeout_ms());
                if self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n", t).await.is_err() {
                    self.keepalive = false;
                    return Err(400);
                }
            }
        }
        loop {
            let pending = self.io.pending();
            if !pending.is_empty() {
                match self.framing {
                    Framing::Length(_) => {
                        let n = (pending.len() as u64).min(p.left) as usize;
                        if n > 0 {
                            let piece = pending[..n].to_vec();
                            self.io.consume(n);
                            p.left -= n as u64;
                            self.request_length += n as u64;
                            return Ok(Some(piece));
                        }
                    }
                    _ => {
                        let mut decoded = Vec::new();
                        let pending = pending.to_vec();
                        let used = p.chunked.decode(&pending, &mut decoded).map_err(|e| {
                            self.keepalive = false;
                            self.log(Level::Info, e.reason);
                            400u16
                        })?;
                        self.io.consume(used);
                        self.request_length += used as u64;
                        p.total += decoded.len() as u64;
                        if p.max != 0 && p.total > p.max {
                            self.keepalive = false;
                            self.log(
                                Level::Error,
                                &format!("client intended to send too large chunked body: {} bytes", p.total),
                            );
                            return Err(413);
                        }
                        if !decoded.is_empty() {
                            return Ok(Some(decoded));
                        }
                    }
                }
            }
            let done = match self.framing {
                Framing::Length(_) => p.left == 0,
                _ => p.chunked.done,
            };
            if done {
                return Ok(None);
            }
            let want = if p.left == u64::MAX {
                16384
            } else {
                p.left.min(65536) as usize
            };
            match self.io.fill(want, p.timeout).await {
                Ok(_) => {}
                Err(ReadError::Timeout) => {
                    self.keepalive = false;
                    self.log(
                        Level::Info,
                        "client timed out (110: Connection timed out) while reading client request body",
                    );
                    return Err(408);
                }
                Err(_) => {
                    self.keepalive = false;
                    self.log(
                        Level::Info,
                        "client prematurely closed connection while reading client request body",
                    );
                    return Err(400);
                }
            }
        }
    }

    /// The body as bytes, if it is in memory.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Memory(b) => Some(b),
            _ => None,
        }
    }
}

/// A request body in a file: a spooled one goes when the request does; one a module
/// pointed at (`ngx.req.set_body_file(path)`) stays unless asked to clean it.
#[derive(Debug)]
pub struct TempFile(pub PathBuf, pub Removal);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Remove,
    Keep,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.1 == Removal::Remove {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
