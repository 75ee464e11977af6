//! Test::Nginx's embedded TCP server (`--- tcp_listen` and its sections), as its Util.pm
//! runs it: one connection accepted; its query read (`tcp_query_len` bytes, or the first
//! read, or until `tcp_query_auto_timeout`); `tcp_reply_delay`; the reply (a string or a
//! list of packets) sent; then closed, unless `tcp_no_close` (held until the block ends).
//! `tcp_shutdown` shuts a direction at once. What it received is checked against
//! `tcp_query` / `tcp_query_len` after the block.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::block::{Block, Value};

pub struct TcpServer {
    received: Option<JoinHandle<Vec<u8>>>,
    /// Dropped at the block's end: a `tcp_no_close` connection then closes.
    _hold: mpsc::Sender<()>,
}

/// A stream the server speaks over: TCP, or a unix socket (`… .sock` targets).
trait Conn: Read + Write + Send {
    fn shut(&self, how: Shutdown);
    fn read_timeout(&self, t: Option<Duration>);
}

impl Conn for std::net::TcpStream {
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
    fn read_timeout(&self, t: Option<Duration>) {
        let _ = self.set_read_timeout(t);
    }
}

impl Conn for std::os::unix::net::UnixStream {
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
    fn read_timeout(&self, t: Option<Duration>) {
        let _ = self.set_read_timeout(t);
    }
}

/// Starts the server for `b` on `target` (a port, or a unix socket path).
pub fn start(b: &Block, target: &str) -> Result<TcpServer, String> {
    let target = target.trim().to_string();
    let accept: Box<dyn FnOnce() -> Option<Box<dyn Conn>> + Send> = if target.ends_with(".sock") {
        let _ = std::fs::remove_file(&target);
        let l = std::os::unix::net::UnixListener::bind(&target).map_err(|e| format!("tcp_listen {target}: {e}"))?;
        Box::new(move || l.accept().ok().map(|(s, _)| Box::new(s) as Box<dyn Conn>))
    } else {
        let port: u16 = target.parse().map_err(|_| format!("bad tcp_listen target: {target}"))?;
        let l = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("tcp_listen {port}: {e}"))?;
        Box::new(move || l.accept().ok().map(|(s, _)| Box::new(s) as Box<dyn Conn>))
    };
    let query_len = b
        .text("tcp_query_len")
        .and_then(|t| t.trim().parse::<usize>().ok())
        .or_else(|| b.get("tcp_query").map(|q| q.bytes().len()));
    let auto_timeout = b
        .text("tcp_query_auto_timeout")
        .map(|t| t.trim().parse::<f64>().unwrap_or(0.1));
    let reply: Vec<Vec<u8>> = match b.get("tcp_reply") {
        Some(Value::List(l) | Value::Group(l)) => l.iter().map(Value::bytes).collect(),
        Some(v) => vec![v.bytes()],
        None => Vec::new(),
    };
    let delay = b.text("tcp_reply_delay").map(|t| parse_time(&t)).unwrap_or_default();
    let shutdown = b.text("tcp_shutdown").and_then(|t| t.trim().parse::<u8>().ok());
    let no_close = b.has("tcp_no_close");
    let (hold, held) = mpsc::channel::<()>();
    let received = std::thread::spawn(move || {
        let Some(mut c) = accept() else {
            return Vec::new();
        };
        let (mut no_read, mut no_write) = (false, false);
        match shutdown {
            Some(0) => {
                c.shut(Shutdown::Read);
                no_read = true;
            }
            Some(1) => {
                c.shut(Shutdown::Write);
                no_write = true;
            }
            Some(_) => {
                c.shut(Shutdown::Both);
                no_read = true;
            }
            None => {}
        }
        let mut buf = Vec::new();
        if !no_read {
            c.read_timeout(Some(Duration::from_secs_f64(auto_timeout.unwrap_or(5.0))));
            let mut chunk = [0u8; 4096];
            loop {
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if auto_timeout.is_none() && query_len.is_none_or(|len| buf.len() >= len) {
                    break;
                }
            }
        }
        std::thread::sleep(delay);
        if !no_write {
            for r in &reply {
                let _ = c.write_all(r);
            }
        }
        if no_close {
            // (the sender goes when the block ends)
            let _ = held.recv();
        }
        drop(c);
        buf
    });
    Ok(TcpServer {
        received: Some(received),
        _hold: hold,
    })
}

impl TcpServer {
    /// Checks what the server received against `tcp_query` and `tcp_query_len`.
    pub fn check(mut self, b: &Block) -> Result<(), String> {
        let checks = b.has("tcp_query") || b.has("tcp_query_len");
        drop(self._hold);
        let Some(h) = self.received.take() else {
            return Ok(());
        };
        if !checks {
            return Ok(());
        }
        // (a server still waiting for its connection is not waited for)
        if !h.is_finished() {
            std::thread::sleep(Duration::from_millis(200));
            if !h.is_finished() {
                return Err("tcp_query: the TCP server received no connection".into());
            }
        }
        let got = h.join().unwrap_or_default();
        if let Some(q) = b.get("tcp_query") {
            let want = q.bytes();
            if got != want {
                return Err(format!(
                    "tcp_query:\n got: {:?}\nwant: {:?}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                ));
            }
        }
        if let Some(len) = b.text("tcp_query_len").and_then(|t| t.trim().parse::<usize>().ok())
            && got.len() != len
        {
            return Err(format!("tcp_query_len: got {} bytes, want {len}", got.len()));
        }
        Ok(())
    }
}

/// A Test::Nginx time (`0.1`, `100ms`, `2s`).
pub fn parse_time(t: &str) -> Duration {
    let t = t.trim();
    let secs = if let Some(ms) = t.strip_suffix("ms") {
        ms.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else {
        t.trim_end_matches('s').parse::<f64>().unwrap_or(0.0)
    };
    Duration::from_secs_f64(secs.max(0.0))
}
