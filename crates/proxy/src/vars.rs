//! The upstream and proxy variables (`$upstream_addr`, `$proxy_host`…), read from what the
//! proxy handler recorded for the request. A request that tried several servers lists
//! one value per try, as nginx does (`a, b`).

use std::rc::Rc;

use http::module::{PrefixVariable, Variable};
use http::request::Request;

use crate::Target;
use crate::response::Head;

/// What the proxy handler records about a request's tries.
#[derive(Default, Debug)]
pub struct ProxyState {
    /// Where `proxy_pass` sends this request (`$proxy_host`, `$proxy_port`).
    pub target: Option<Rc<Target>>,
    pub tries: Tries,
    /// The head of the answer that was used (`$upstream_http_NAME`).
    pub head: Option<Head>,
}

/// A request's tries in order: the first in place (most requests make one), the others
/// after it.
#[derive(Default, Debug)]
pub struct Tries {
    first: Option<Try>,
    more: Vec<Try>,
}

impl Tries {
    pub fn push(&mut self, t: Try) {
        match self.first {
            None => self.first = Some(t),
            Some(_) => self.more.push(t),
        }
    }

    pub fn pop(&mut self) -> Option<Try> {
        self.more.pop().or_else(|| self.first.take())
    }

    pub fn last(&self) -> Option<&Try> {
        self.more.last().or(self.first.as_ref())
    }

    pub fn last_mut(&mut self) -> Option<&mut Try> {
        match self.more.last_mut() {
            Some(t) => Some(t),
            None => self.first.as_mut(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Try> {
        self.first.iter().chain(&self.more)
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

/// One try at one server.
#[derive(Debug)]
pub struct Try {
    pub addr: Rc<str>,
    /// The response's status, or the one its failure answers (502, 504).
    pub status: Option<u16>,
    pub response_time: f64,
    pub connect_time: Option<f64>,
    pub header_time: Option<f64>,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// The response body's length, once read.
    pub response_length: Option<u64>,
}

impl Try {
    /// A try at `addr`, nothing known of it yet (made field by field: a derived default
    /// would allocate an empty address only to drop it).
    pub fn at(addr: Rc<str>) -> Try {
        Try {
            addr,
            status: None,
            response_time: 0.0,
            connect_time: None,
            header_time: None,
            bytes_received: 0,
            bytes_sent: 0,
            response_length: None,
        }
    }
}

fn state(r: &Request) -> Option<&ProxyState> {
    r.ctx_ref::<ProxyState>()
}

fn list(r: &Request, f: impl Fn(&Try) -> String) -> Option<String> {
    let s = state(r)?;
    if s.tries.is_empty() {
        return None;
    }
    Some(s.tries.iter().map(f).collect::<Vec<_>>().join(", "))
}

fn seconds(t: Option<f64>) -> String {
    t.map_or_else(|| "-".to_string(), |t| format!("{t:.3}"))
}

pub static UPSTREAM_VARIABLES: &[Variable] = &[
    Variable {
        name: "upstream_addr",
        get: |r| list(r, |t| t.addr.to_string()),
        set: None,
    },
    Variable {
        name: "upstream_status",
        get: |r| list(r, |t| t.status.map_or_else(|| "-".to_string(), |s| s.to_string())),
        set: None,
    },
    Variable {
        name: "upstream_response_time",
        get: |r| list(r, |t| format!("{:.3}", t.response_time)),
        set: None,
    },
    Variable {
        name: "upstream_connect_time",
        get: |r| list(r, |t| seconds(t.connect_time)),
        set: None,
    },
    Variable {
        name: "upstream_header_time",
        get: |r| list(r, |t| seconds(t.header_time)),
        set: None,
    },
    Variable {
        name: "upstream_bytes_received",
        get: |r| list(r, |t| t.bytes_received.to_string()),
        set: None,
    },
    Variable {
        name: "upstream_bytes_sent",
        get: |r| list(r, |t| t.bytes_sent.to_string()),
        set: None,
    },
    Variable {
        name: "upstream_response_length",
        get: |r| list(r, |t| t.response_length.unwrap_or(0).to_string()),
        set: None,
    },
];

pub static UPSTREAM_PREFIX_VARIABLES: &[PrefixVariable] = &[PrefixVariable {
    prefix: "upstream_http_",
    get: |r, name| {
        let head = state(r)?.head.as_ref()?;
        let mut found = head.headers().filter(|(n, _)| http::variables::header_name_is(n, name));
        let mut value = found.next()?.1.into_owned();
        for (_, more) in found {
            value.push_str(", ");
            value.push_str(&more);
        }
        Some(value)
    },
}];

pub static PROXY_VARIABLES: &[Variable] = &[
    Variable {
        name: "proxy_host",
        get: |r| state(r)?.target.as_ref().map(|t| t.host.clone()),
        set: None,
    },
    Variable {
        name: "proxy_port",
        get: |r| state(r)?.target.as_ref().map(|t| t.port.clone()),
        set: None,
    },
    Variable {
        name: "proxy_add_x_forwarded_for",
        get: |r| {
            let addr = r
                .conn
                .peer
                .map_or_else(|| "unix:".to_string(), |p| http::variables::ip_text(p.ip()));
            Some(match r.headers_in.get("x-forwarded-for") {
                Some(xff) => format!("{xff}, {addr}"),
                None => addr,
            })
        },
        set: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_keep_their_order_past_the_first() {
        let at = |n: &str| Try::at(n.into());
        let names = |t: &Tries| t.iter().map(|t| t.addr.to_string()).collect::<Vec<_>>();
        let mut t = Tries::default();
        assert!(t.is_empty() && t.last().is_none());
        t.push(at("a"));
        t.push(at("b"));
        t.push(at("c"));
        assert_eq!(names(&t), ["a", "b", "c"]);
        t.last_mut().unwrap().status = Some(502);
        assert_eq!(t.pop().map(|t| t.status), Some(Some(502)));
        assert_eq!(t.last().map(|t| &*t.addr), Some("b"));
        t.pop();
        assert_eq!(t.last().map(|t| &*t.addr), Some("a"));
        t.pop();
        assert!(t.is_empty() && t.pop().is_none());
        t.push(at("d"));
        assert_eq!(names(&t), ["d"]);
    }
}
