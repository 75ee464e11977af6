//! The answer's body on its way to the client. With `proxy_buffering on` (nginx's
//! default) the upstream is read ahead of the client, up to `proxy_buffers` in memory: a
//! body that fits is read whole at once and its connection freed (kept alive or closed)
//! however slowly the client takes it. With `off` (or `X-Accel-Buffering: no`) each
//! piece goes to the client before the next is read. Spooling past the buffers to a temp
//! file is not here yet: a body larger than them is read as fast as the client takes it,
//! as nginx does with `proxy_max_temp_file_size 0`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use http::request::Request;
use tokio::sync::Notify;

use crate::response::{BodyReader, ReadFailure};
use crate::upstream::Conn;

/// Sends the body to the client, reading ahead up to `ahead` bytes (0: no read-ahead).
/// `read_done` gets the connection as soon as the upstream's body is read whole (to keep
/// it for another request); a connection whose body was not read whole is closed. A read
/// failure is returned for the caller to log.
pub async fn relay(
    r: &mut Request,
    mut conn: Conn,
    body: &mut BodyReader,
    read_timeout: Duration,
    ahead: usize,
    read_done: impl FnOnce(Conn, &BodyReader),
) -> Result<(), ReadFailure> {
    // what came with the head (often the whole body) goes without more machinery
    while body.has_pending() && !body.done() {
        let data = body.next(&mut conn.stream, read_timeout).await?;
        if !data.is_empty() {
            r.send_body(&data, false).await;
        }
    }
    if body.done() {
        read_done(conn, body);
        return Ok(());
    }
    if r.write_failed {
        return Ok(());
    }
    if ahead == 0 {
        while !body.done() {
            let data = body.next(&mut conn.stream, read_timeout).await?;
            if !data.is_empty() {
                r.send_body(&data, false).await;
                if r.write_failed {
                    // the client is gone: so is the upstream connection
                    return Ok(());
                }
            }
        }
        read_done(conn, body);
        return Ok(());
    }
    // (boxed: the common bodies, read whole with the head, do not carry its state)
    Box::pin(read_ahead(r, conn, body, read_timeout, ahead, read_done)).await
}

/// Pieces read and not yet sent.
#[derive(Default)]
struct Queue {
    pieces: VecDeque<Vec<u8>>,
    bytes: usize,
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
    ahead: usize,
    read_done: impl FnOnce(Conn, &BodyReader),
) -> Result<(), ReadFailure> {
    let queue = RefCell::new(Queue::default());
    let (room, filled) = (Notify::new(), Notify::new());
    let (queue, room, filled) = (&queue, &room, &filled);
    let reader = async move {
        loop {
            loop {
                let (gone, full) = {
                    let q = queue.borrow();
                    (q.writer_gone, q.bytes >= ahead)
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
                    if !data.is_empty() {
                        q.bytes += data.len();
                        q.pieces.push_back(data);
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
            let next = {
                let mut q = queue.borrow_mut();
                match q.pieces.pop_front() {
                    Some(piece) => {
                        q.bytes -= piece.len();
                        Some(piece)
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
