//! The balancing methods besides round-robin, as nginx's modules pick: `hash KEY`
//! (CRC32 of the key as Cache::Memcached does, rehashed on a busy server), `hash KEY
//! consistent` (ketama: 160 points per weight unit on a CRC32 ring, as
//! Cache::Memcached::Fast), `ip_hash` (the first three bytes of an IPv4 client, all of an
//! IPv6 one), `least_conn`, `random [two [least_conn]]`. Each falls back to round-robin
//! after 20 fruitless draws, as nginx's do; `least_conn` tries backup servers when no
//! primary one is live.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use http::request::Request;
use http::template::Template;

use crate::upstream::{PeerState, Peers};

/// How an upstream picks a server.
#[derive(Debug, Default)]
pub enum Method {
    #[default]
    RoundRobin,
    Hash {
        key: Template,
        /// `consistent`: the ring's points, sorted by hash.
        ring: Option<Vec<Point>>,
    },
    IpHash,
    LeastConn,
    Random {
        /// `two`: the less loaded of two drawn servers.
        two: bool,
    },
}

/// A point of the consistent-hash ring: a hash and the server (as its `server` line
/// names it) it leads to.
#[derive(Debug)]
pub struct Point {
    hash: u32,
    server: Rc<str>,
}

/// What a method keeps across one request's tries.
#[derive(Debug, Default)]
pub struct Draw {
    started: bool,
    /// The running hash (ip_hash, hash) or the ring position (consistent).
    hash: u64,
    rehash: u32,
    tries: u32,
    /// What is hashed: the rendered key (`hash`), the client's address bytes (`ip_hash`).
    key: Vec<u8>,
}

impl Draw {
    /// The draw of a request: its key read now, if the method hashes one.
    pub fn new(method: &Method, r: &Request) -> Draw {
        let key = match method {
            Method::Hash { key, .. } => key.render(r).into_bytes(),
            Method::IpHash => match r.conn.peer.map(|p| p.ip()) {
                Some(std::net::IpAddr::V4(v4)) => v4.octets()[..3].to_vec(),
                Some(std::net::IpAddr::V6(v6)) => v6.octets().to_vec(),
                None => vec![0; 3],
            },
            _ => Vec::new(),
        };
        Draw { key, ..Draw::default() }
    }

    #[cfg(test)]
    pub fn with_key(key: &[u8]) -> Draw {
        Draw {
            key: key.to_vec(),
            ..Draw::default()
        }
    }
}

/// After this many draws without a usable server, round-robin decides.
const MAX_DRAWS: u32 = 20;

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// The ring of `hash … consistent` over `peers` (each weight unit 160 points).
pub fn ring(peers: &Peers) -> Vec<Point> {
    let mut points = Vec::new();
    for peer in &peers.list {
        // "host\0port" (a unix socket: its path and an empty port)
        let (host, port) = match peer.server.strip_prefix("unix:") {
            Some(path) => (path, ""),
            None => match peer.server.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
                _ => (&*peer.server, ""),
            },
        };
        let base = [host.as_bytes(), b"\0", port.as_bytes()];
        let mut prev = 0u32;
        for _ in 0..peer.weight * 160 {
            let hash = crc32(&[base[0], base[1], base[2], &prev.to_le_bytes()]);
            points.push(Point {
                hash,
                server: peer.server.clone(),
            });
            prev = hash;
        }
    }
    points.sort_by_key(|p| p.hash);
    points.dedup_by_key(|p| p.hash);
    points
}

/// The next primary server by `method` (None: none usable by it; round-robin decides).
pub fn pick(method: &Method, peers: &Peers, tried: &[bool], draw: &mut Draw) -> Option<usize> {
    let single = peers.list.len() < 2;
    if draw.tries > MAX_DRAWS || single {
        return None;
    }
    let now = http::time::coarse_instant();
    match method {
        Method::RoundRobin | Method::LeastConn => None,
        Method::IpHash => {
            if !draw.started {
                draw.started = true;
                draw.hash = 89;
            }
            let total = peers.total_weight();
            loop {
                for &b in &draw.key {
                    draw.hash = (draw.hash * 113 + u64::from(b)) % 6271;
                }
                let i = peers.by_weight(draw.hash % total);
                if let Some(i) = peers.take_if_usable(i, tried, now) {
                    return Some(i);
                }
                draw.tries += 1;
                if draw.tries > MAX_DRAWS {
                    return None;
                }
            }
        }
        Method::Hash { ring: None, .. } => {
            if draw.key.is_empty() {
                return None;
            }
            let total = peers.total_weight();
            loop {
                // ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH
                let rehash = if draw.rehash > 0 {
                    draw.rehash.to_string()
                } else {
                    String::new()
                };
                let h = (crc32(&[rehash.as_bytes(), &draw.key]) >> 16) & 0x7fff;
                draw.hash += u64::from(h);
                draw.rehash += 1;
                let i = peers.by_weight(draw.hash % total);
                if let Some(i) = peers.take_if_usable(i, tried, now) {
                    return Some(i);
                }
                draw.tries += 1;
                if draw.tries > MAX_DRAWS {
                    return None;
                }
            }
        }
        Method::Hash { ring: Some(points), .. } => {
            if draw.key.is_empty() || points.is_empty() {
                return None;
            }
            if !draw.started {
                draw.started = true;
                let hash = crc32(&[&draw.key]);
                draw.hash = points.partition_point(|p| p.hash < hash) as u64;
            }
            loop {
                let server = &points[(draw.hash % points.len() as u64) as usize].server;
                let found = peers.smooth_among(tried, now, |i| peers.list[i].server == *server);
                if found.is_some() {
                    return found;
                }
                draw.hash += 1;
                draw.tries += 1;
                if draw.tries > MAX_DRAWS {
                    return None;
                }
            }
        }
        Method::Random { two } => {
            let total = peers.total_weight();
            loop {
                let a = peers.by_weight(random() % total);
                let pick = if *two {
                    let b = peers.by_weight(random() % total);
                    let (ua, ub) = (peers.usable(a, tried, now), peers.usable(b, tried, now));
                    match (ua, ub) {
                        (true, true) => Some(if peers.load_below(b, a) { b } else { a }),
                        (true, false) => Some(a),
                        (false, true) => Some(b),
                        (false, false) => None,
                    }
                } else {
                    Some(a).filter(|&a| peers.usable(a, tried, now))
                };
                if let Some(i) = pick.and_then(|i| peers.take_if_usable(i, tried, now)) {
                    return Some(i);
                }
                draw.tries += 1;
                if draw.tries > MAX_DRAWS {
                    return None;
                }
            }
        }
    }
}

/// `least_conn` among `peers`: the fewest connections for the weight; ties go by smooth
/// weighted round-robin.
pub fn least_conn(peers: &Peers, tried: &[bool], now: Instant) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in 0..peers.list.len() {
        if !peers.usable(i, tried, now) {
            continue;
        }
        if best.is_none_or(|b| peers.load_below(i, b)) {
            best = Some(i);
        }
    }
    let best = best?;
    let tied: Vec<bool> = (0..peers.list.len())
        .map(|i| !peers.load_below(best, i) && !peers.load_below(i, best))
        .collect();
    peers.smooth_among(tried, now, |i| tied[i])
}

impl Peers {
    /// The sum of the weights (nginx's total_weight: down servers included).
    fn total_weight(&self) -> u64 {
        self.list.iter().map(|p| u64::from(p.weight)).sum::<u64>().max(1)
    }

    /// The server whose weight range holds `w` (0 ≤ w < total weight).
    fn by_weight(&self, mut w: u64) -> usize {
        for (i, p) in self.list.iter().enumerate() {
            if w < u64::from(p.weight) {
                return i;
            }
            w -= u64::from(p.weight);
        }
        self.list.len() - 1
    }

    /// True when `a` has fewer connections than `b` for their weights.
    fn load_below(&self, a: usize, b: usize) -> bool {
        let state = self.state.borrow();
        let (sa, sb) = (&state[a], &state[b]);
        u64::from(sa.conns) * u64::from(self.list[b].weight) < u64::from(sb.conns) * u64::from(self.list[a].weight)
    }

    fn usable(&self, i: usize, tried: &[bool], now: Instant) -> bool {
        let state = self.state.borrow();
        self.is_usable(i, &state[i], tried, now, false)
    }

    fn take_if_usable(&self, i: usize, tried: &[bool], now: Instant) -> Option<usize> {
        let mut state = self.state.borrow_mut();
        if !self.is_usable(i, &state[i], tried, now, false) {
            return None;
        }
        self.took(i, &mut state[i], now);
        Some(i)
    }

    /// Smooth weighted round-robin among the usable servers `among` accepts (which must
    /// not look at the servers' state: it is borrowed here).
    fn smooth_among(&self, tried: &[bool], now: Instant, among: impl Fn(usize) -> bool) -> Option<usize> {
        let mut state = self.state.borrow_mut();
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for i in 0..self.list.len() {
            if !among(i) || !self.is_usable(i, &state[i], tried, now, false) {
                continue;
            }
            let st: &mut PeerState = &mut state[i];
            st.current += st.effective;
            total += st.effective;
            if st.effective < i64::from(self.list[i].weight) {
                st.effective += 1;
            }
            let current = st.current;
            if best.is_none_or(|b| current > state[b].current) {
                best = Some(i);
            }
        }
        let i = best?;
        state[i].current -= total;
        self.took(i, &mut state[i], now);
        Some(i)
    }
}

thread_local! {
    static SEED: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) | 1
}

/// A worker's pseudo-random numbers (xorshift64*): enough to spread requests.
fn random() -> u64 {
    SEED.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::upstream::{Peer, PeerAddr};

    fn peers(weights: &[u32]) -> Peers {
        Peers::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| Peer {
                    weight: w,
                    ..Peer::new(PeerAddr::Inet(SocketAddr::from(([127, 0, 0, 1], 8000 + i as u16))))
                })
                .collect(),
        )
    }

    fn release(p: &Peers, i: usize) {
        p.state.borrow_mut()[i].conns -= 1;
    }

    #[test]
    fn ip_hash_keeps_a_network_on_one_server_and_moves_on_from_a_tried_one() {
        let p = peers(&[1, 1, 1]);
        let key = |ip: [u8; 4]| Draw::with_key(&ip[..3]);
        // 89 -> (89*113+127) % 6271 = 3913 -> 3199 -> 4040; 4040 % 3 = 2
        let first = pick(&Method::IpHash, &p, &[], &mut key([127, 0, 0, 1])).unwrap();
        assert_eq!(first, 2);
        release(&p, first);
        let again = pick(&Method::IpHash, &p, &[], &mut key([127, 0, 0, 200])).unwrap();
        assert_eq!(again, first, "same /24, same server");
        release(&p, again);
        let mut draw = key([127, 0, 0, 1]);
        let mut tried = vec![false; 3];
        let a = pick(&Method::IpHash, &p, &tried, &mut draw).unwrap();
        tried[a] = true;
        let b = pick(&Method::IpHash, &p, &tried, &mut draw).unwrap();
        assert_ne!(a, b, "a retry draws again");
    }

    #[test]
    fn hash_is_stable_per_key_and_consistent_moves_few_keys_when_a_server_goes() {
        let method = |ring: bool, p: &Peers| Method::Hash {
            key: Template::parse("$arg_k").unwrap(),
            ring: ring.then(|| super::ring(p)),
        };
        let p = peers(&[1, 1, 1, 1]);
        for consistent in [false, true] {
            let m = method(consistent, &p);
            for k in ["a", "b", "user-17"] {
                let one = pick(&m, &p, &[], &mut Draw::with_key(k.as_bytes())).unwrap();
                release(&p, one);
                let two = pick(&m, &p, &[], &mut Draw::with_key(k.as_bytes())).unwrap();
                release(&p, two);
                assert_eq!(one, two, "{k}: the same server every time");
            }
        }
        // with the last server down, consistent hashing moves only the keys it had
        let m = method(true, &p);
        let before: Vec<usize> = (0..400)
            .map(|k| {
                let i = pick(&m, &p, &[], &mut Draw::with_key(format!("k{k}").as_bytes())).unwrap();
                release(&p, i);
                i
            })
            .collect();
        let tried_last = [false, false, false, true];
        let moved = (0..400)
            .filter(|&k| {
                let i = pick(&m, &p, &tried_last, &mut Draw::with_key(format!("k{k}").as_bytes())).unwrap();
                release(&p, i);
                i != before[k]
            })
            .count();
        let had = before.iter().filter(|&&i| i == 3).count();
        assert_eq!(moved, had, "only the keys of the missing server move");
        assert!((50..150).contains(&had), "a fair share: {had} of 400");
    }

    #[test]
    fn hash_and_hash_consistent_map_keys_to_the_servers_nginx_maps_them_to() {
        // Debian's nginx 1.22, `server 127.0.0.1:19101; server 127.0.0.1:19102;
        // server 127.0.0.1:19103 weight=2;`, keys 1..40 then foo, bar, /x/y, user42:
        // the server each answered from (a, b, c)
        let p = Peers::new(
            [(19101, 1), (19102, 1), (19103, 2)]
                .into_iter()
                .map(|(port, weight)| Peer {
                    weight,
                    ..Peer::new(PeerAddr::Inet(SocketAddr::from(([127, 0, 0, 1], port))))
                })
                .collect(),
        );
        let keys: Vec<String> = (1..=40)
            .map(|k| k.to_string())
            .chain(["foo", "bar", "/x/y", "user42"].map(String::from))
            .collect();
        for (consistent, nginx) in [
            (true, "ccbbaabccbcbccaccaacccacccbcbccaaaccbbcbbbca"),
            (false, "abccbacacbccaaccbcbaccbbccacacabccbacacccccc"),
        ] {
            let m = Method::Hash {
                key: Template::parse("$arg_k").unwrap(),
                ring: consistent.then(|| super::ring(&p)),
            };
            let ours: String = keys
                .iter()
                .map(|k| {
                    let i = pick(&m, &p, &[], &mut Draw::with_key(k.as_bytes())).unwrap();
                    release(&p, i);
                    (b'a' + i as u8) as char
                })
                .collect();
            assert_eq!(ours, nginx, "consistent: {consistent}");
        }
    }

    #[test]
    fn least_conn_takes_the_least_loaded_for_its_weight() {
        let p = peers(&[1, 2, 1]);
        let now = Instant::now();
        // 0 busy with 1, 1 with 1 (half its weight), 2 with 2
        p.state.borrow_mut()[0].conns = 1;
        p.state.borrow_mut()[1].conns = 1;
        p.state.borrow_mut()[2].conns = 2;
        assert_eq!(least_conn(&p, &[], now), Some(1));
        assert_eq!(p.state.borrow()[1].conns, 2, "counted");
        // now 0 (1/1) and 1 (2/2) tie: both get turns, by weight
        let mut got = Vec::new();
        for _ in 0..3 {
            let i = least_conn(&p, &[], now).unwrap();
            got.push(i);
            release(&p, i);
        }
        assert!(got.contains(&0) && got.contains(&1) && !got.contains(&2), "{got:?}");
    }

    #[test]
    fn random_follows_the_weights_and_two_takes_the_less_loaded() {
        let p = peers(&[3, 1]);
        let mut counts = [0; 2];
        for _ in 0..4000 {
            let i = pick(&Method::Random { two: false }, &p, &[], &mut Draw::default()).unwrap();
            release(&p, i);
            counts[i] += 1;
        }
        assert!((2700..3300).contains(&counts[0]), "{counts:?}");
        p.state.borrow_mut()[0].conns = 50;
        let mut light = 0;
        for _ in 0..1000 {
            let i = pick(&Method::Random { two: true }, &p, &[], &mut Draw::default()).unwrap();
            release(&p, i);
            light += usize::from(i == 1);
        }
        // the light one wins whenever it is drawn at all (7 times in 16)
        assert!(light > 350, "{light}");
    }
}
