//! The answer's body on its way to the client. With `proxy_buffering on` (nginx's
//! default) the upstream is read ahead of the client, up to `proxy_buffers` in memory: a
//! body that fits is read whole at once and its connection freed (kept alive or closed)
//! however slowly the client takes it. Past the buffers the rest waits in a temp file
//! under `proxy_temp_path`, up to `proxy_max_temp_file_size` (then reading waits for the
//! client). With `off` (or `X-Accel-Buffering: no`) each piece goes to the client before
//! the next is read.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::request::Request;
use tokio::sync::Notify;

use crate::pool::Conn;
use crate::response::{BodyReader, ReadFailure, Tail};

/// How far the body may be read ahead of the client.
pub struct Ahead<'a> {
    /// In memory (0: no read-ahead at all).
    pub memory: usize,
    /// Then in a temp file in this directory, up to `spool_max` bytes (0: none).
    pub spool_dir: &'a crate::TempPath,
    pub spool_max: u64,
}

/// Sends the body to the client, reading ahead as `ahead` allows.
/// `read_done` gets the connection as soon as the upstream's body is read whole (to keep
/// it for another request); a connection whose body was not read whole is closed. A read
/// failure is returned for the caller to log.
pub async fn relay(
    r: &mut Request,
    mut conn: Conn,
    body: &mut BodyReader,
    read_timeout: Duration,
    ahead: &Ahead<'_>,
    read_done: impl FnOnce(Conn, &BodyReader),
) -> Result<(), ReadFailure> {
    loop {
        if body.done() {
            read_done(conn, body);
            return Ok(());
        }
        if r.write_failed {
            // the client is gone: so is the upstream connection
            return Ok(());
        }
        // what came with the head (often the whole body) goes without more machinery;
        // past it, reading ahead is the reader's and the writer's (boxed: the common
        // bodies, read whole with the head, do not carry its state)
        if ahead.memory > 0 && !body.has_pending() {
            return Box::pin(read_ahead(r, conn, body, read_timeout, ahead, read_done)).await;
        }
        let data = body.next(&mut conn.stream, read_timeout).await?;
        if !data.is_empty() {
            r.send_body(&data, false).await;
        }
    }
}

/// A piece read and not yet sent: in memory, or this many bytes next in the temp file.
enum Piece {
    Memory(Tail),
    Spooled(usize),
}

/// Pieces read and not yet sent.
#[derive(Default)]
struct Queue {
    pieces: VecDeque<Piece>,
    /// Bytes of the pieces in memory.
    bytes: usize,
    /// The temp file, once memory was full: written at `written`, read at `read`.
    file: Option<std::fs::File>,
    written: u64,
    read: u64,
    /// How reading ended (taken by the writer once the pieces before it are sent).
    end: Option<Result<(), ReadFailure>>,
    /// The client is gone: reading stops.
    writer_gone: bool,
}

/// The reader fills the queue up to `ahead` bytes while the writer empties it into the
/// client, both in the request's task.
async fn read_ahead(
    r: &mut Request,
    mut conn: Conn,
    body: &mut BodyReader,
    read_timeout: Duration,
    ahead: &Ahead<'_>,
    read_done: impl FnOnce(Conn, &BodyReader),
) -> Result<(), ReadFailure> {
    let queue = RefCell::new(Queue::default());
    // (the reader cannot log: the writer holds the request; it leaves the line here)
    let log_line = RefCell::new(None::<String>);
    let log_line = &log_line;
    let (room, filled) = (Notify::new(), Notify::new());
    let (queue, room, filled) = (&queue, &room, &filled);
    let reader = async move {
        loop {
            loop {
                let (gone, full) = {
                    let q = queue.borrow();
                    let spool_full = q.written >= ahead.spool_max;
                    (q.writer_gone, q.bytes >= ahead.memory && spool_full)
                };
                if gone {
                    return;
                }
                if !full {
                    break;
                }
                room.notified().await;
            }
            let got = body.next(&mut conn.stream, read_timeout).await;
            let mut q = queue.borrow_mut();
            match got {
                Ok(data) => {
                    if data.is_empty() {
                    } else if q.bytes < ahead.memory {
                        q.bytes += data.len();
                        q.pieces.push_back(Piece::Memory(data));
                    } else {
                        // memory is full: the piece waits in the temp file
                        match spool(&mut q, &data, ahead.spool_dir) {
                            Ok(made) => {
                                if let Some(path) = made {
                                    *log_line.borrow_mut() = Some(format!(
                                        "an upstream response is buffered to a temporary file {} while reading upstream",
                                        path.display()
                                    ));
                                }
                                q.pieces.push_back(Piece::Spooled(data.len()));
                            }
                            Err(e) => {
                                q.end = Some(Err(ReadFailure::Io(e)));
                                filled.notify_one();
                                return;
                            }
                        }
                    }
                    if body.done() {
                        q.end = Some(Ok(()));
                        filled.notify_one();
                        drop(q);
                        read_done(conn, body);
                        return;
                    }
                }
                Err(e) => {
                    q.end = Some(Err(e));
                    filled.notify_one();
                    return;
                }
            }
            filled.notify_one();
        }
    };
    let writer = async {
        loop {
            if let Some(line) = log_line.borrow_mut().take() {
                r.log(http::log::Level::Warn, &line);
            }
            let next = {
                let mut q = queue.borrow_mut();
                match q.pieces.pop_front() {
                    Some(Piece::Memory(piece)) => {
                        q.bytes -= piece.len();
                        Some(piece)
                    }
                    Some(Piece::Spooled(len)) => {
                        let mut piece = vec![0u8; len];
                        let at = q.read;
                        let read = q.file.as_ref().map(|f| f.read_exact_at(&mut piece, at));
                        q.read += len as u64;
                        match read {
                            Some(Ok(())) => Some(Tail::from(piece)),
                            Some(Err(e)) => return Err(ReadFailure::Io(e)),
                            None => return Err(ReadFailure::Closed),
                        }
                    }
                    None => match q.end.take() {
                        Some(end) => return end,
                        None => None,
                    },
                }
            };
            match next {
                Some(piece) => {
                    room.notify_one();
                    r.send_body(&piece, false).await;
                    if r.write_failed {
                        queue.borrow_mut().writer_gone = true;
                        room.notify_one();
                        return Ok(());
                    }
                }
                None => filled.notified().await,
            }
        }
    };
    let ((), result) = tokio::join!(reader, writer);
    result
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Appends `data` to the queue's temp file, made (and unlinked at once: it goes with its
/// last handle) on first use; the new file's path, for the log line.
fn spool(q: &mut Queue, data: &[u8], temp: &crate::TempPath) -> std::io::Result<Option<PathBuf>> {
    let mut made = None;
    if q.file.is_none() {
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = temp.file(&format!("{:010}", (u64::from(std::process::id()) << 20) | seq));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let _ = std::fs::remove_file(&path);
        q.file = Some(file);
        made = Some(path);
    }
    if let Some(f) = &q.file {
        f.write_all_at(data, q.written)?;
    }
    q.written += data.len() as u64;
    Ok(made)
}
