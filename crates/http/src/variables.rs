//! nginx's variables as the http core knows them (`$uri`, `$http_x`, `$arg_x`, …).

use crate::request::Request;

/// Names every config may use without declaring; prefixed families are checked separately.
pub const BUILTIN: &[&str] = &[
    "uri",
    "document_uri",
    "request_uri",
    "args",
    "query_string",
    "is_args",
    "host",
    "hostname",
    "remote_addr",
    "remote_port",
    "binary_remote_addr",
    "server_addr",
    "server_port",
    "server_name",
    "server_protocol",
    "scheme",
    "https",
    "request_method",
    "request",
    "request_body",
    "request_length",
    "request_time",
    "content_type",
    "content_length",
    "status",
    "body_bytes_sent",
    "bytes_sent",
    "msec",
    "time_local",
    "time_iso8601",
    "pid",
    "nginx_version",
    "connection",
    "connection_requests",
    "document_root",
    "realpath_root",
    "request_filename",
    "request_id",
    "remote_user",
    "request_completion",
    "server_software",
];

pub const PREFIXES: &[&str] = &["http_", "arg_", "cookie_", "sent_http_", "sent_trailer_"];

/// True when `name` is a variable nginx (and so we) can resolve.
pub fn is_known(name: &str) -> bool {
    BUILTIN.contains(&name)
        || PREFIXES.iter().any(|p| name.starts_with(p) && name.len() > p.len())
        || name.parse::<u32>().is_ok()
}

/// An address as text; IPv4 without the formatting machinery (`$remote_addr` is read by
/// most gateways on every request).
pub fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push((b'0' + octet / 100) as char);
        }
        if octet >= 10 {
            out.push((b'0' + octet / 10 % 10) as char);
        }
        out.push((b'0' + octet % 10) as char);
    }
    out
}

/// `$binary_remote_addr`: the client address in network order (4 or 16 bytes).
fn binary_addr(peer: Option<std::net::SocketAddr>) -> Vec<u8> {
    match peer.map(|p| p.ip()) {
        Some(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
        Some(std::net::IpAddr::V6(a)) => a.octets().to_vec(),
        None => Vec::new(),
    }
}

/// A variable's value as bytes, for the callers that can carry any (Lua): the binary
/// variable and the request body keep their bytes.
pub fn get_bytes(r: &Request, name: &str) -> Option<Vec<u8>> {
    if r.vars.is_empty() || !r.vars.contains_key(name) {
        match name {
            "binary_remote_addr" => return Some(binary_addr(r.conn.peer)),
            "request_body" => return r.body_bytes().map(<[u8]>::to_vec),
            _ => {}
        }
    }
    get(r, name).map(String::into_bytes)
}

/// Looks a variable up for this request; `None` is "not found" (nginx's empty value).
pub fn get(r: &Request, name: &str) -> Option<String> {
    // most requests set no variables: no hashing then
    if !r.vars.is_empty()
        && let Some(v) = r.vars.get(name)
    {
        return Some(v.clone());
    }
    let v = match name {
        "uri" | "document_uri" => r.uri.clone(),
        "request_uri" => r.unparsed_uri.clone(),
        "args" | "query_string" => r.args.clone(),
        "is_args" => {
            if r.args.is_empty() {
                String::new()
            } else {
                "?".into()
            }
        }
        "host" => r.host_var(),
        "hostname" => hostname(),
        "remote_addr" => match r.conn.peer {
            Some(p) => ip_text(p.ip()),
            None => "unix:".into(),
        },
        // (no port once realip took the address from a header)
        "remote_port" => match r.conn.peer.map(|p| p.port()) {
            Some(port) if port > 0 => port.to_string(),
            _ => String::new(),
        },
        // not text: `get_bytes` has the real bytes; as text, invalid UTF-8 is replaced
        "binary_remote_addr" => String::from_utf8_lossy(&binary_addr(r.conn.peer)).into_owned(),
        "server_addr" => r.conn.local.map(|a| a.ip().to_string()).unwrap_or_default(),
        "server_port" => r.conn.local.map(|a| a.port().to_string()).unwrap_or_default(),
        "server_name" => r.server.primary_name().to_string(),
        // (HTTP/0.9 requests name no protocol)
        "server_protocol" if r.version == (0, 9) => String::new(),
        "server_protocol" => format!("HTTP/{}.{}", r.version.0, r.version.1),
        "scheme" if r.is_tls() => "https".into(),
        "scheme" => "http".into(),
        "https" if r.is_tls() => "on".into(),
        "https" => String::new(),
        // (a subrequest's is the main request's, as nginx's r->main->method_name)
        "request_method" if r.capture.is_some() => r.line_method.to_string(),
        "request_method" => r.method.to_string(),
        "request" => r.request_line(),
        "request_body" => {
            return r.body_bytes().map(|b| String::from_utf8_lossy(b).into_owned());
        }
        "request_length" => r.request_length.to_string(),
        "request_time" => {
            let t = r.start.elapsed();
            format!("{}.{:03}", t.as_secs(), t.subsec_millis())
        }
        "content_type" => return r.header_in("content-type").map(str::to_string),
        "content_length" => return r.header_in("content-length").map(str::to_string),
        // (an error page's status while it is served, as nginx's err_status)
        "status" => format!(
            "{:03}",
            crate::status::wire_status(if r.err_status > 0 { r.err_status } else { r.status })
        ),
        "body_bytes_sent" => r.body_bytes_sent.to_string(),
        "bytes_sent" => r.bytes_sent.to_string(),
        "msec" => format!("{:.3}", crate::time::now_f64()),
        "time_local" => crate::time::with(|t| t.local.clone()),
        "time_iso8601" => crate::time::with(|t| t.iso8601.clone()),
        "pid" => std::process::id().to_string(),
        "nginx_version" | "server_software" => crate::NGINX_VERSION.to_string(),
        "connection" => r.conn.id.to_string(),
        "connection_requests" => r.conn.requests.to_string(),
        "document_root" | "realpath_root" => {
            let root = r.loc.settings.root();
            r.http.prefix.join(&*root.get(r)).to_string_lossy().into_owned()
        }
        "request_filename" => match &r.filename {
            Some(f) => f.to_string_lossy().into_owned(),
            None => crate::files::map_uri(r, &r.uri).to_string_lossy().into_owned(),
        },
        "request_id" => request_id(r),
        // the user of Basic credentials, checked or not
        "remote_user" => return crate::request::credentials(r).map(|(user, _)| user),
        "request_completion" => {
            if r.eof_sent {
                "OK".into()
            } else {
                String::new()
            }
        }
        _ if name.bytes().all(|b| b.is_ascii_digit()) => {
            return name.parse::<usize>().ok().and_then(|i| r.captures.get(i).cloned());
        }
        _ => return prefixed(r, name),
    };
    Some(v)
}

/// What writing a variable did.
#[derive(Debug, PartialEq, Eq)]
pub enum SetOutcome {
    Done,
    /// No such variable (nor one `set` declared).
    NotFound,
    /// A built-in that cannot be written.
    NotChangeable,
}

/// Writes `$name` (`None`: unset), as `ngx.var.NAME = v` does: the core's `$args`, a
/// module's settable variable, or one `set` declared.
pub fn set(r: &mut Request, name: &str, value: Option<&str>) -> SetOutcome {
    if name == "args" || name == "query_string" {
        r.args = value.unwrap_or_default().to_string();
        return SetOutcome::Done;
    }
    if let Some(crate::config::VarDef::Module(v)) = r.http.variables.get(name) {
        return match v.set {
            Some(set) => {
                set(r, value);
                SetOutcome::Done
            }
            None => SetOutcome::NotChangeable,
        };
    }
    if r.http.declared_vars.contains(name) {
        match value {
            None => unset(r, name),
            Some(v) => {
                r.unset_vars.retain(|n| n != name);
                r.vars.insert(name.to_string(), v.to_string());
            }
        };
        return SetOutcome::Done;
    }
    // nginx knows the prefixed families ($arg_x, $http_x...) only when read: writing one
    // is "not found", as for an unknown name
    let prefixed = PREFIXES.iter().any(|p| name.starts_with(p))
        || r.http.prefix_variables.iter().any(|p| p.suffix(name).is_some());
    if is_known(name) && !prefixed {
        SetOutcome::NotChangeable
    } else {
        SetOutcome::NotFound
    }
}

fn prefixed(r: &Request, name: &str) -> Option<String> {
    if let Some(h) = name.strip_prefix("http_") {
        if h.eq_ignore_ascii_case("cookie") {
            let all: Vec<_> = r.headers_in.get_all("cookie").collect();
            return (!all.is_empty()).then(|| all.join("; "));
        }
        return header_var(&r.headers_in, h);
    }
    if let Some(h) = name.strip_prefix("sent_http_") {
        if h.eq_ignore_ascii_case("content_type") {
            return r.content_type.as_deref().map(str::to_string);
        }
        if h.eq_ignore_ascii_case("content_length") {
            return r.content_length.map(|n| n.to_string());
        }
        return header_var(&r.headers_out, h);
    }
    if let Some(a) = name.strip_prefix("arg_") {
        return arg(&r.args, a);
    }
    if let Some(c) = name.strip_prefix("cookie_") {
        return r.headers_in.get_all("cookie").find_map(|h| cookie(h, c));
    }
    if let Some(v) = r.http.variables.get(name) {
        return v.get(r);
    }
    for family in &r.http.prefix_variables {
        if let Some(suffix) = family.suffix(name) {
            return (family.get)(r, suffix);
        }
    }
    // a `set` variable this request has not set: empty, with nginx's warning
    // (uninitialized_variable_warn); one made "not found" is not found
    if r.http.declared_vars.contains(name) && !r.unset_vars.iter().any(|n| n == name) {
        r.log(
            crate::log::Level::Warn,
            &format!("using uninitialized \"{name}\" variable"),
        );
        return Some(String::new());
    }
    None
}

/// Makes a `set` variable "not found" for this request.
pub fn unset(r: &mut Request, name: &str) {
    r.vars.remove(name);
    if !r.unset_vars.iter().any(|n| n == name) {
        r.unset_vars.push(name.to_string());
    }
}

/// True when header `name` is the one a variable's `suffix` names: lowercased, `-` read
/// as `_` (`X-Foo` is `x_foo`).
pub fn header_name_is(name: &str, suffix: &str) -> bool {
    name.len() == suffix.len()
        && name.bytes().zip(suffix.bytes()).all(|(a, b)| {
            let a = if a == b'-' { b'_' } else { a.to_ascii_lowercase() };
            a == b.to_ascii_lowercase()
        })
}

/// nginx matches `$http_x_foo` against header names lowercased with `-` read as `_`;
/// several lines of one name read as one value joined by ", " (nginx 1.23 and later,
/// which current OpenResty is built on).
fn header_var(headers: &crate::request::Headers, suffix: &str) -> Option<String> {
    let mut found = headers
        .list
        .iter()
        .filter(|(n, _)| header_name_is(n, suffix))
        .map(|(_, v)| v.as_str());
    let mut value = found.next()?.to_string();
    for more in found {
        value.push_str(", ");
        value.push_str(more);
    }
    Some(value)
}

/// The raw (still escaped) value of `name` in a query string; names compare case-insensitively.
pub fn arg(args: &str, name: &str) -> Option<String> {
    args.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        k.eq_ignore_ascii_case(name).then(|| v.to_string())
    })
}

fn cookie(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        k.eq_ignore_ascii_case(name).then(|| v.to_string())
    })
}

/// The machine's host name (`$hostname`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

thread_local! {
    /// Secret hash keys for `$request_id`, drawn once per process.
    static REQUEST_ID_KEYS: std::collections::hash_map::RandomState = std::collections::hash_map::RandomState::new();
}

/// 32 hex digits, unique per request and the same on every read of it (nginx draws 16
/// random bytes once per request): a keyed hash of what identifies the request.
fn request_id(r: &Request) -> String {
    use std::hash::{BuildHasher, Hasher};
    REQUEST_ID_KEYS.with(|keys| {
        let mut h = keys.build_hasher();
        h.write_u32(std::process::id());
        h.write_u64(r.conn.id);
        h.write_u64(r.conn.requests);
        let a = h.finish();
        h.write_u64(a);
        format!("{a:016x}{:016x}", h.finish())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn args_and_cookies() {
        assert_eq!(super::arg("a=1&B=2&c", "b"), Some("2".into()));
        assert_eq!(super::arg("a=1&c", "c"), Some("".into()));
        assert_eq!(super::arg("a=1", "z"), None);
        assert_eq!(super::cookie("x=1; y=2", "y"), Some("2".into()));
        assert!(super::is_known("http_user_agent") && !super::is_known("http_") && !super::is_known("nope"));
    }

    #[test]
    fn binary_addresses_keep_their_bytes() {
        assert_eq!(
            super::binary_addr(Some("192.168.1.200:80".parse().unwrap())),
            [192, 168, 1, 200]
        );
        assert_eq!(super::binary_addr(Some("[fe80::ff]:80".parse().unwrap())).len(), 16);
        assert!(super::binary_addr(None).is_empty());
    }

    #[test]
    fn addresses_as_text() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "fe80::1",
        ] {
            assert_eq!(super::ip_text(ip.parse().unwrap()), ip);
        }
    }
}
