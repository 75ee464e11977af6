//! nginx's `resolver`: names looked up by asking the configured DNS servers (and only
//! them) over UDP, over TCP when an answer comes truncated; answers cached per worker for
//! their TTL, or for `valid=`; A records, and AAAA too unless `ipv6=off`, as nginx's
//! ngx_resolver does. Used by Lua cosockets (and later by proxy_pass with variables).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// A `resolver` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolverConf {
    pub servers: Vec<SocketAddr>,
    /// `valid=`: how long answers are kept, whatever their TTL.
    pub valid: Option<Duration>,
    pub ipv4: bool,
    pub ipv6: bool,
}

impl ResolverConf {
    /// Parses the directive's arguments (`address[:port] ... [valid=time] [ipv4=on|off]
    /// [ipv6=on|off] [status_zone=zone]`); the error says what nginx would.
    pub fn parse(args: &[String]) -> Result<ResolverConf, String> {
        let mut c = ResolverConf {
            servers: Vec::new(),
            valid: None,
            ipv4: true,
            ipv6: true,
        };
        for a in args {
            if let Some(v) = a.strip_prefix("valid=") {
                let ms = conf::value::parse_msec(v).ok_or_else(|| format!("invalid parameter: {a}"))?;
                c.valid = Some(Duration::from_millis(ms));
            } else if let Some(v) = a.strip_prefix("ipv4=") {
                c.ipv4 = on_off(a, v)?;
            } else if let Some(v) = a.strip_prefix("ipv6=") {
                c.ipv6 = on_off(a, v)?;
            } else if a.starts_with("status_zone=") {
                // (accepted: nginx keeps resolver statistics there)
            } else {
                c.servers.push(server_addr(a)?);
            }
        }
        if !c.ipv4 && !c.ipv6 {
            return Err("\"ipv4\" and \"ipv6\" cannot both be \"off\"".into());
        }
        if c.servers.is_empty() {
            return Err("no name servers defined".into());
        }
        Ok(c)
    }
}

fn on_off(arg: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("invalid parameter: {arg}")),
    }
}

/// `1.2.3.4`, `1.2.3.4:5353`, `[::1]:53`, `[::1]`.
fn server_addr(a: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = a.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let bare = a.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!("host not found in resolver \"{a}\""))
}

/// Why a name has no address, as nginx's resolver words it (`ngx_resolver_strerror`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub code: u16,
}

impl ResolveError {
    pub const TIMED_OUT: u16 = 110;

    pub fn text(&self) -> &'static str {
        match self.code {
            1 => "Format error",
            2 => "Server failure",
            3 => "Host not found",
            4 => "Unimplemented",
            5 => "Operation refused",
            Self::TIMED_OUT => "Operation timed out",
            _ => "Unknown error",
        }
    }
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.text())
    }
}

struct Cached {
    answer: Result<Vec<IpAddr>, ResolveError>,
    until: Instant,
}

thread_local! {
    /// The worker's answers, by resolver and name.
    static CACHE: RefCell<HashMap<(Vec<SocketAddr>, String), Cached>> = RefCell::new(HashMap::new());
}

/// The addresses of `name`: cached, else asked of the servers in turn.
pub async fn resolve(conf: &ResolverConf, name: &str, timeout: Duration) -> Result<Vec<IpAddr>, ResolveError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let key = (conf.servers.clone(), name.clone());
    let now = Instant::now();
    if let Some(answer) = CACHE.with(|c| c.borrow().get(&key).filter(|e| e.until > now).map(|e| e.answer.clone())) {
        return answer;
    }
    let keep = |answer: Result<Vec<IpAddr>, ResolveError>, ttl: Duration| {
        CACHE.with(|c| {
            c.borrow_mut().insert(
                key.clone(),
                Cached {
                    answer: answer.clone(),
                    until: now + conf.valid.unwrap_or(ttl),
                },
            )
        });
        answer
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut addrs = Vec::new();
    let mut ttl = u32::MAX;
    let mut last_err = ResolveError {
        code: ResolveError::TIMED_OUT,
    };
    let mut answered = false;
    let kinds: Vec<u16> = [(conf.ipv4, TYPE_A), (conf.ipv6, TYPE_AAAA)]
        .into_iter()
        .filter_map(|(on, t)| on.then_some(t))
        .collect();
    for qtype in kinds {
        match tokio::time::timeout_at(deadline, ask(conf, &name, qtype)).await {
            Ok(Ok(answer)) => {
                answered = true;
                ttl = ttl.min(answer.ttl);
                addrs.extend(answer.addrs);
            }
            Ok(Err(e)) => last_err = e,
            Err(_) => {
                last_err = ResolveError {
                    code: ResolveError::TIMED_OUT,
                }
            }
        }
    }
    if addrs.is_empty() {
        // a name with no address of the asked kinds is not found, as nginx says; that
        // answer is kept too (nginx: 10 s, or `valid=`), a timeout is not
        return match (answered, last_err.code) {
            (true, _) | (_, 3) => keep(Err(ResolveError { code: 3 }), Duration::from_secs(10)),
            _ => Err(last_err),
        };
    }
    let ttl = Duration::from_secs(u64::from(if ttl == u32::MAX { 0 } else { ttl }));
    keep(Ok(addrs), ttl)
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;

struct Answer {
    addrs: Vec<IpAddr>,
    ttl: u32,
}

/// One question to the servers, each in turn until one answers.
async fn ask(conf: &ResolverConf, name: &str, qtype: u16) -> Result<Answer, ResolveError> {
    let id: u16 = rand_id();
    let query = encode_query(id, name, qtype).ok_or(ResolveError { code: 1 })?;
    let mut last = ResolveError {
        code: ResolveError::TIMED_OUT,
    };
    for server in &conf.servers {
        let reply = match udp_exchange(*server, &query, id).await {
            Ok(r) if r.get(2).is_some_and(|f| f & 0x02 != 0) => tcp_exchange(*server, &query).await,
            other => other,
        };
        match reply {
            Ok(r) => match parse_answer(&r, id, qtype) {
                Ok(a) => return Ok(a),
                Err(e) => last = e,
            },
            Err(_) => continue,
        }
    }
    Err(last)
}

fn rand_id() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: getrandom writes into the two bytes we own.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 2, 0) };
    if n != 2 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        return (t ^ (t >> 16)) as u16;
    }
    u16::from_le_bytes(b)
}

/// A query: header (one question, recursion desired) and the question.
fn encode_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    (q.len() <= 512).then_some(q)
}

async fn udp_exchange(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await?;
        // (a stray datagram with another id is not our answer)
        if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server).await?;
    let mut msg = (query.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(query);
    s.write_all(&msg).await?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

/// The addresses of the wanted kind an answer holds, and the smallest TTL among them.
fn parse_answer(msg: &[u8], id: u16, qtype: u16) -> Result<Answer, ResolveError> {
    let bad = ResolveError { code: 1 };
    if msg.len() < 12 {
        return Err(bad);
    }
    let u16_at = |i: usize| -> Result<u16, ResolveError> {
        Ok(u16::from_be_bytes([
            *msg.get(i).ok_or(bad.clone())?,
            *msg.get(i + 1).ok_or(bad.clone())?,
        ]))
    };
    if u16_at(0)? != id || msg[2] & 0x80 == 0 {
        return Err(bad);
    }
    let rcode = u16::from(msg[3] & 0x0f);
    if rcode != 0 {
        return Err(ResolveError { code: rcode });
    }
    let (qd, an) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at).ok_or(bad.clone())? + 4;
    }
    let mut addrs = Vec::new();
    let mut ttl = u32::MAX;
    for _ in 0..an {
        at = skip_name(msg, at).ok_or(bad.clone())?;
        let rtype = u16_at(at)?;
        let rttl = u32::from(u16_at(at + 4)?) << 16 | u32::from(u16_at(at + 6)?);
        let len = u16_at(at + 8)? as usize;
        let data = msg.get(at + 10..at + 10 + len).ok_or(bad.clone())?;
        at += 10 + len;
        match (rtype, data.len()) {
            (TYPE_A, 4) if qtype == TYPE_A => {
                addrs.push(IpAddr::from([data[0], data[1], data[2], data[3]]));
                ttl = ttl.min(rttl);
            }
            (TYPE_AAAA, 16) if qtype == TYPE_AAAA => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                addrs.push(IpAddr::from(b));
                ttl = ttl.min(rttl);
            }
            // (the server followed the chain: its records follow the CNAME)
            (TYPE_CNAME, _) => {}
            _ => {}
        }
    }
    Ok(Answer { addrs, ttl })
}

/// The offset after a (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + l as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_directive_as_nginx() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let c = ResolverConf::parse(&args("127.0.0.1 [::1]:5353 valid=30s ipv6=off")).unwrap();
        assert_eq!(
            c.servers,
            vec!["127.0.0.1:53".parse().unwrap(), "[::1]:5353".parse().unwrap()]
        );
        assert_eq!(c.valid, Some(Duration::from_secs(30)));
        assert!(c.ipv4 && !c.ipv6);
        assert!(ResolverConf::parse(&args("127.0.0.1 ipv4=off ipv6=off")).is_err());
        assert!(
            ResolverConf::parse(&args("valid=1s"))
                .unwrap_err()
                .contains("no name servers")
        );
        assert!(
            ResolverConf::parse(&args("127.0.0.1 valid=x"))
                .unwrap_err()
                .contains("invalid parameter")
        );
    }

    /// An answer built by hand: the question echoed, a CNAME, then two A records (the
    /// second name compressed), TTLs 300 and 60.
    fn answer(id: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0]);
        let q = encode_query(id, "www.example.com", TYPE_A).unwrap();
        m.extend_from_slice(&q[12..]);
        // CNAME www -> example.com (pointer to offset 16)
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 10, 0, 2, 0xc0, 16]);
        m.extend_from_slice(&[0xc0, 16, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 0, 0, 1]);
        m.extend_from_slice(&[0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 2]);
        m
    }

    #[test]
    fn reads_addresses_and_the_smallest_ttl() {
        let a = parse_answer(&answer(7), 7, TYPE_A).unwrap();
        assert_eq!(
            a.addrs,
            vec!["10.0.0.1".parse::<IpAddr>().unwrap(), "10.0.0.2".parse().unwrap()]
        );
        assert_eq!(a.ttl, 60);
        assert!(parse_answer(&answer(7), 8, TYPE_A).is_err(), "another id");
        let mut nx = answer(7);
        nx[3] = 0x83;
        assert_eq!(parse_answer(&nx, 7, TYPE_A).err(), Some(ResolveError { code: 3 }));
        for cut in 0..answer(7).len() {
            // a truncated message is refused, never read past its end
            let _ = parse_answer(&answer(7)[..cut], 7, TYPE_A);
        }
    }

    #[test]
    fn refuses_names_dns_cannot_carry() {
        assert!(encode_query(1, "a..b", TYPE_A).is_none());
        assert!(encode_query(1, &"x".repeat(64), TYPE_A).is_none());
        assert_eq!(encode_query(1, "a.b", TYPE_A).unwrap().len(), 12 + 5 + 4);
    }
}
