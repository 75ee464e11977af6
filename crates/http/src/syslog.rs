//! Logging to syslog, as nginx's `syslog:server=ADDR[:PORT][,facility=…][,severity=…]
//! [,tag=…][,nohostname]` targets of `error_log` and `access_log`: one RFC 3164 datagram
//! per line (`<PRI>Mmm dd hh:mm:ss host tag: line`) over UDP or a unix socket.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::log::Level;

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp", "clock", "authpriv", "ftp", "ntp",
    "audit", "alert", "cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

const SEVERITIES: &[&str] = &["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    Udp(SocketAddr),
    Unix(PathBuf),
}

/// One `syslog:` target.
#[derive(Debug)]
pub struct Syslog {
    pub server: Server,
    pub facility: u8,
    /// `severity=`: the access log's lines (the error log's take their own level's).
    pub severity: u8,
    pub tag: String,
    pub nohostname: bool,
    /// Opened on first use, in the process that writes (after fork).
    socket: Mutex<Option<Socket>>,
}

#[derive(Debug)]
enum Socket {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl PartialEq for Syslog {
    fn eq(&self, other: &Syslog) -> bool {
        self.server == other.server
            && self.facility == other.facility
            && self.severity == other.severity
            && self.tag == other.tag
            && self.nohostname == other.nohostname
    }
}

impl Eq for Syslog {}

impl Syslog {
    /// Reads what follows `syslog:`; `Err` is nginx's message.
    pub fn parse(spec: &str) -> Result<Syslog, String> {
        let mut server = None;
        let mut facility = 23; // local7
        let mut severity = 6; // info
        let mut tag = "nginx".to_string();
        let mut nohostname = false;
        for param in spec.split(',').filter(|p| !p.is_empty()) {
            if let Some(v) = param.strip_prefix("server=") {
                server = Some(parse_server(v)?);
            } else if let Some(v) = param.strip_prefix("facility=") {
                facility = FACILITIES
                    .iter()
                    .position(|f| *f == v)
                    .ok_or_else(|| format!("unknown syslog facility \"{v}\""))? as u8;
            } else if let Some(v) = param.strip_prefix("severity=") {
                severity = SEVERITIES
                    .iter()
                    .position(|s| *s == v)
                    .ok_or_else(|| format!("unknown syslog severity \"{v}\""))? as u8;
            } else if let Some(v) = param.strip_prefix("tag=") {
                if v.len() > 32 {
                    return Err("syslog tag length exceeds 32".into());
                }
                if !v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    return Err("syslog \"tag\" only allows alphanumeric characters and underscore".into());
                }
                tag = v.to_string();
            } else if param == "nohostname" {
                nohostname = true;
            } else {
                return Err(format!("unknown syslog parameter \"{param}\""));
            }
        }
        Ok(Syslog {
            server: server.ok_or("no syslog server specified")?,
            facility,
            severity,
            tag,
            nohostname,
            socket: Mutex::new(None),
        })
    }

    /// Sends one line at `severity` (0 emerg … 7 debug). A server that is not there loses
    /// the line, as with nginx's UDP.
    pub fn send(&self, severity: u8, line: &str) {
        let message = self.message(severity, line);
        let Ok(mut socket) = self.socket.lock() else {
            return;
        };
        if socket.is_none() {
            *socket = self.connect().ok();
        }
        let sent = match socket.as_ref() {
            Some(Socket::Udp(s)) => s.send(message.as_bytes()).map(drop),
            Some(Socket::Unix(s)) => s.send(message.as_bytes()).map(drop),
            None => return,
        };
        // (a unix socket whose reader went away is opened anew for the next line)
        if sent.is_err() {
            *socket = None;
        }
    }

    fn connect(&self) -> std::io::Result<Socket> {
        Ok(match &self.server {
            Server::Udp(addr) => {
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local)?;
                s.connect(addr)?;
                s.set_nonblocking(true)?;
                Socket::Udp(s)
            }
            Server::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.connect(path)?;
                s.set_nonblocking(true)?;
                Socket::Unix(s)
            }
        })
    }

    /// `<PRI>Mmm dd hh:mm:ss host tag: line` (RFC 3164, local time, as nginx writes it).
    fn message(&self, severity: u8, line: &str) -> String {
        let (_, month, day, h, m, s) = crate::time::calendar(crate::time::now_sec(), true);
        let month = crate::time::MONTHS[(month.clamp(1, 12) - 1) as usize];
        let pri = u32::from(self.facility) * 8 + u32::from(severity);
        let host = if self.nohostname {
            String::new()
        } else {
            format!("{} ", crate::variables::hostname())
        };
        format!(
            "<{pri}>{month} {day:>2} {h:02}:{m:02}:{s:02} {host}{}: {line}",
            self.tag
        )
    }
}

/// The syslog severity of an error-log level.
pub fn severity_of(level: Level) -> u8 {
    match level {
        Level::Stderr | Level::Emerg => 0,
        Level::Alert => 1,
        Level::Crit => 2,
        Level::Error => 3,
        Level::Warn => 4,
        Level::Notice => 5,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

fn parse_server(v: &str) -> Result<Server, String> {
    if let Some(path) = v.strip_prefix("unix:") {
        return Ok(Server::Unix(PathBuf::from(path)));
    }
    let has_port = if v.starts_with('[') {
        v.contains("]:")
    } else {
        v.contains(':')
    };
    let with_port = if has_port { v.to_string() } else { format!("{v}:514") };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(Server::Udp)
        .ok_or_else(|| format!("host not found in \"{v}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_as_nginx_reads_them() {
        let s = Syslog::parse("server=127.0.0.1,facility=local3,severity=notice,tag=web,nohostname").unwrap();
        assert_eq!(s.server, Server::Udp("127.0.0.1:514".parse().unwrap()));
        assert_eq!(
            (s.facility, s.severity, s.tag.as_str(), s.nohostname),
            (19, 5, "web", true)
        );
        let d = Syslog::parse("server=unix:/dev/log").unwrap();
        assert_eq!(d.server, Server::Unix("/dev/log".into()));
        assert_eq!((d.facility, d.severity, d.tag.as_str()), (23, 6, "nginx"));
        for (bad, msg) in [
            ("facility=local7", "no syslog server specified"),
            ("server=127.0.0.1,facility=nope", "unknown syslog facility \"nope\""),
            ("server=127.0.0.1,severity=loud", "unknown syslog severity \"loud\""),
            (
                "server=127.0.0.1,tag=a-b",
                "syslog \"tag\" only allows alphanumeric characters and underscore",
            ),
            ("server=127.0.0.1,foo=1", "unknown syslog parameter \"foo=1\""),
        ] {
            assert_eq!(Syslog::parse(bad).unwrap_err(), msg, "{bad}");
        }
    }

    #[test]
    fn the_message_has_nginx_s_header() {
        let s = Syslog::parse("server=127.0.0.1:5514,nohostname").unwrap();
        let m = s.message(3, "the line");
        // <187>Dec  6 01:34:45 nginx: the line
        assert!(m.starts_with("<187>"), "{m}");
        assert!(m.ends_with(" nginx: the line"), "{m}");
        assert_eq!(m.len(), "<187>Dec  6 01:34:45 nginx: the line".len(), "{m}");
    }
}
