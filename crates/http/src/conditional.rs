//! Conditional requests, as nginx's not_modified filter answers them for any 200 (a
//! static file or a response whose Last-Modified / ETag were set by a handler):
//! If-Unmodified-Since and If-Match that the validators do not satisfy make a 412;
//! If-Modified-Since and If-None-Match that they do satisfy (both, when both are sent)
//! make a 304.

use crate::config::IfModifiedSince;
use crate::request::Request;

/// What the response becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Send,
    NotModified,
    PreconditionFailed,
}

/// The request's conditional headers (the first of each).
#[derive(Default)]
struct Conditions<'a> {
    modified_since: Option<&'a str>,
    none_match: Option<&'a str>,
    unmodified_since: Option<&'a str>,
    if_match: Option<&'a str>,
}

pub fn check(r: &Request) -> Answer {
    let mut c = Conditions::default();
    let mut any = false;
    for (n, v) in &r.headers_in.list {
        if n.len() <= 3 || !n.as_bytes()[..3].eq_ignore_ascii_case(b"if-") {
            continue;
        }
        let slot = match &n.as_bytes()[3..] {
            x if x.eq_ignore_ascii_case(b"modified-since") => &mut c.modified_since,
            x if x.eq_ignore_ascii_case(b"none-match") => &mut c.none_match,
            x if x.eq_ignore_ascii_case(b"unmodified-since") => &mut c.unmodified_since,
            x if x.eq_ignore_ascii_case(b"match") => &mut c.if_match,
            _ => continue,
        };
        slot.get_or_insert(v.as_str());
        any = true;
    }
    if !any {
        return Answer::Send;
    }
    let modified = r.headers_out.get("last-modified").and_then(secs);
    let etag = r.headers_out.get("etag").map(str::trim);
    if let Some(since) = c.unmodified_since {
        // no Last-Modified, or a date that does not parse: not satisfied
        match (secs(since), modified) {
            (Some(since), Some(modified)) if since >= modified => {}
            _ => return Answer::PreconditionFailed,
        }
    }
    if let Some(tags) = c.if_match {
        // a strong comparison: a weak tag never matches
        let matched = etag.is_some_and(|etag| {
            let strong = !etag.starts_with("W/");
            tags.split(',')
                .map(str::trim)
                .any(|t| t == "*" || (strong && t == etag))
        });
        if !matched {
            return Answer::PreconditionFailed;
        }
    }
    if c.modified_since.is_none() && c.none_match.is_none() {
        return Answer::Send;
    }
    if let Some(since) = c.modified_since {
        let (Some(since), Some(modified)) = (secs(since), modified) else {
            return Answer::Send;
        };
        let unchanged = match r.loc.settings.if_modified_since() {
            IfModifiedSince::Off => false,
            IfModifiedSince::Exact => since == modified,
            IfModifiedSince::Before => since >= modified,
        };
        if !unchanged {
            return Answer::Send;
        }
    }
    if let Some(tags) = c.none_match {
        // a weak comparison, as If-None-Match asks for
        let weak = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_string();
        let matched = etag.is_some_and(|etag| {
            let etag = weak(etag);
            tags.split(',').map(str::trim).any(|t| t == "*" || weak(t) == etag)
        });
        if !matched {
            return Answer::Send;
        }
    }
    Answer::NotModified
}

/// An HTTP date as seconds since the epoch.
fn secs(t: &str) -> Option<u64> {
    let t = crate::time::parse_http_date(t)?;
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}
