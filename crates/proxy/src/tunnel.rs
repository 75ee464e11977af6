//! An upgraded connection (`101 Switching Protocols`, WebSocket through the proxy): once
//! the answer's head is out, bytes go both ways as they come, unparsed, until either side
//! closes (what it sent before is delivered first) or nothing moves either way for
//! `proxy_read_timeout`, as nginx's upgraded mode does.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

use http::io::Stream;

/// How a tunnel ended.
pub enum End {
    /// One side closed (or a read or write failed: nginx ends quietly then too).
    Closed,
    /// Nothing moved for the idle timeout.
    TimedOut,
}

/// Relays between `client` and `upstream` (their already-read bytes first) until one
/// side ends or `idle` passes without a byte either way. Returns how it ended and the
/// bytes that came from the upstream.
pub async fn relay(
    client: &Stream,
    upstream: &Stream,
    from_client: Vec<u8>,
    from_upstream: Vec<u8>,
    idle: Duration,
) -> (End, u64) {
    let last = Cell::new(Instant::now());
    let received = Cell::new(0u64);
    let up = pump(client, upstream, from_client, &last, None);
    let down = pump(upstream, client, from_upstream, &last, Some(&received));
    let watchdog = async {
        loop {
            let due = last.get() + idle;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    };
    let end = tokio::select! {
        _ = up => End::Closed,
        _ = down => End::Closed,
        _ = watchdog => End::TimedOut,
    };
    (end, received.get())
}

/// Copies `from` to `to` until `from` ends; every move stamps `last`.
async fn pump(
    from: &Stream,
    to: &Stream,
    first: Vec<u8>,
    last: &Cell<Instant>,
    count: Option<&Cell<u64>>,
) -> io::Result<()> {
    write_all(to, &first, last).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                from.readable().await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        last.set(Instant::now());
        if let Some(c) = count {
            c.set(c.get() + n as u64);
        }
        write_all(to, &buf[..n], last).await?;
    }
}

async fn write_all(to: &Stream, mut data: &[u8], last: &Cell<Instant>) -> io::Result<()> {
    while !data.is_empty() {
        match to.try_write(data) {
            Ok(n) => {
                data = &data[n..];
                last.set(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
