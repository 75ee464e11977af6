//! The hook for a balancer written elsewhere (`balancer_by_lua*`: the proxy knows no
//! Lua). An upstream block with one asks it before every try which server to use; it
//! answers through the request's `Choice`, which is also what it reads (the last try's
//! failure, how many tries are left). Its run is a future, so it may wait (cosockets,
//! sleeps) where OpenResty's balancer cannot.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use http::ext::ExtConf;
use http::request::Request;

use crate::upstream::PeerAddr;

/// A balancer: runs for each try of a request to its upstream.
pub trait Balancer {
    fn pick<'a>(&'a self, r: &'a mut Request) -> Pin<Box<dyn Future<Output = Verdict> + 'a>>;
}

impl std::fmt::Debug for dyn Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Balancer")
    }
}

/// How a balancer's run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: to the server it set, else to the upstream's own choice.
    Go,
    /// The request fails with this status (an error, `ngx.exit(status)`).
    Fail(u16),
    /// `ngx.exit(ngx.BUSY)`: no live upstreams.
    Busy,
    /// `ngx.exit(ngx.DECLINED)`: this try fails as an error, the next may go on.
    Declined,
}

/// What a try failed with, as `get_last_failure` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryEnd {
    /// A bad status the server answered (its connection could serve again): 403, 404.
    Next,
    /// An error, a timeout, a status counted against the server.
    Failed,
}

/// A server a balancer chose for a try.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub addr: PeerAddr,
    /// The host name it goes by (keys its kept connections; TLS's SNI later).
    pub host: Option<Rc<str>>,
}

/// A request's balancer state: set by the balancer for the current try, read by it.
#[derive(Debug, Default)]
pub struct Choice {
    pub peer: Option<Chosen>,
    /// Tries added after this one (`set_more_tries`).
    pub more_tries: u32,
    /// `enable_keepalive(idle timeout, max requests)` for this try's connection.
    pub keepalive: Option<(Duration, u64)>,
    /// `set_timeouts`: connect, send, read in milliseconds, for this and later tries.
    pub timeouts: [Option<u64>; 3],
    /// `recreate_request`: the request head is made again before this try.
    pub recreate: bool,
    /// The previous try's failure and status.
    pub last_failure: Option<(TryEnd, u16)>,
    /// Tries so far, this one included.
    pub total_tries: u32,
    /// Tries left, this one included (nginx's `peer.tries`).
    pub tries_left: u32,
    /// `proxy_next_upstream_tries` (0: no limit).
    pub tries_limit: u32,
    /// `set_upstream_tls(false)`: an `https://` upstream is spoken to in plain HTTP, from
    /// this try on.
    pub tls_off: bool,
    /// `bind_to_local_addr`: the local address of this try's connection and the later
    /// ones'.
    pub local: Option<std::net::SocketAddr>,
}

impl Choice {
    /// `set_more_tries(count)`: the count kept within `proxy_next_upstream_tries`, with
    /// lua-resty-core's warning when it had to be reduced.
    pub fn set_more_tries(&mut self, count: u32) -> Option<&'static str> {
        let total = self.total_tries + self.tries_left.saturating_sub(1);
        if self.tries_limit > 0 && total + count > self.tries_limit {
            self.more_tries = self.tries_limit.saturating_sub(total);
            return Some("reduced tries due to limit");
        }
        self.more_tries = count;
        None
    }
}

/// What an upstream block got from directives of other modules (`balancer_by_lua*`,
/// `balancer_keepalive`), gathered while the block is read.
#[derive(Clone, Default)]
pub struct BlockExtras {
    pub balancer: Option<Rc<dyn Balancer>>,
    /// Connections `enable_keepalive` may keep (`balancer_keepalive`, 32 by default).
    pub balancer_keepalive: Option<usize>,
}

impl ExtConf for BlockExtras {
    fn merge(&mut self, _parent: &Self) {}
}

impl BlockExtras {
    /// The extras of the upstream block being read.
    pub fn of(b: &mut http::HttpBuilder) -> &mut BlockExtras {
        b.main.get_or_default::<BlockExtras>()
    }
}

#[cfg(test)]
mod tests {
    use super::Choice;

    #[test]
    fn more_tries_stay_within_the_limit() {
        let mut c = Choice {
            total_tries: 1,
            tries_left: 1,
            tries_limit: 3,
            ..Choice::default()
        };
        assert_eq!(c.set_more_tries(1), None);
        assert_eq!(c.more_tries, 1);
        assert_eq!(c.set_more_tries(5), Some("reduced tries due to limit"));
        assert_eq!(c.more_tries, 2);
        c.tries_limit = 0;
        assert_eq!(c.set_more_tries(9), None);
        assert_eq!(c.more_tries, 9);
    }
}
