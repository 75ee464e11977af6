//! Test::Nginx's embedded UDP server (`--- udp_listen` and its sections), as its Util.pm
//! runs it: one datagram received, `udp_reply_delay`, the reply (a datagram, or a list of
//! them) sent back to its sender. What it received is checked against `udp_query`.

use std::net::UdpSocket;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::block::{Block, Value};

pub struct UdpServer {
    received: JoinHandle<Vec<u8>>,
}

pub fn start(b: &Block, target: &str) -> Result<UdpServer, String> {
    let target = target.trim().to_string();
    let reply: Vec<Vec<u8>> = match b.get("udp_reply") {
        Some(Value::List(l) | Value::Group(l)) => l.iter().map(Value::bytes).collect(),
        Some(v) => vec![v.bytes()],
        None => return Err("no --- udp_reply specified but --- udp_listen is specified".into()),
    };
    let delay = b
        .text("udp_reply_delay")
        .map(|t| crate::tcp_server::parse_time(&t))
        .unwrap_or_default();
    // one datagram in, the reply out to its sender, on a unix or a UDP socket
    fn serve<A>(
        recv: impl Fn(&mut [u8]) -> Option<(usize, A)>,
        send: impl Fn(&[u8], &A),
        reply: Vec<Vec<u8>>,
        delay: Duration,
    ) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let Some((n, from)) = recv(&mut buf) else {
            return Vec::new();
        };
        buf.truncate(n);
        std::thread::sleep(delay);
        for r in &reply {
            send(r, &from);
        }
        buf
    }
    let received = if target.ends_with(".sock") {
        let _ = std::fs::remove_file(&target);
        let s = std::os::unix::net::UnixDatagram::bind(&target).map_err(|e| format!("udp_listen {target}: {e}"))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        std::thread::spawn(move || {
            serve(
                |b| s.recv_from(b).ok(),
                |r, from| {
                    if let Some(path) = from.as_pathname() {
                        let _ = s.send_to(r, path);
                    }
                },
                reply,
                delay,
            )
        })
    } else {
        let port: u16 = target.parse().map_err(|_| format!("bad udp_listen target: {target}"))?;
        let s = UdpSocket::bind(("0.0.0.0", port)).map_err(|e| format!("udp_listen {port}: {e}"))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        std::thread::spawn(move || {
            serve(
                |b| s.recv_from(b).ok(),
                |r, from| {
                    let _ = s.send_to(r, from);
                },
                reply,
                delay,
            )
        })
    };
    Ok(UdpServer { received })
}

impl UdpServer {
    pub fn check(self, b: &Block) -> Result<(), String> {
        let Some(q) = b.get("udp_query") else {
            return Ok(());
        };
        if !self.received.is_finished() {
            std::thread::sleep(Duration::from_millis(200));
        }
        if !self.received.is_finished() {
            return Err("udp_query: the UDP server received nothing".into());
        }
        let got = self.received.join().unwrap_or_default();
        if got != q.bytes() {
            return Err(format!(
                "udp_query:\n got: {:?}\nwant: {:?}",
                String::from_utf8_lossy(&got),
                q.text()
            ));
        }
        Ok(())
    }
}
