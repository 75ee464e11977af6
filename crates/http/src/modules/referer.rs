//! nginx's referer module: `valid_referers none | blocked | server_names | name[/uri] |
//! ~regex …` decides which Referer headers are valid, and `$invalid_referer` is "1" for a
//! request whose Referer is not ("" otherwise, and where no `valid_referers` applies).

use std::sync::Arc;

use conf::registry::{LOC, SRV};
use conf::{Args, Cmd, Directive, Result};

use crate::builder::HttpBuilder;
use crate::config::ServerName;
use crate::ext::ExtConf;
use crate::module::{Module, Variable};
use crate::request::Request;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("valid_referers", SRV | LOC, Args::AtLeast(1), valid_referers),
    // (one list per location here: nothing to size)
    Directive::value("referer_hash_bucket_size", SRV | LOC, Args::Exactly(1), accepted),
    Directive::value("referer_hash_max_size", SRV | LOC, Args::Exactly(1), accepted),
];

pub static MODULE: Module = Module {
    variables: &[Variable {
        name: "invalid_referer",
        get: invalid_referer,
        set: None,
    }],
    ..Module::new("ngx_http_referer_module", DIRECTIVES)
};

/// A level's `valid_referers` (a level without them inherits its parent's).
#[derive(Clone, Default)]
struct RefererConf(Option<Arc<Referers>>);

impl ExtConf for RefererConf {
    fn merge(&mut self, parent: &Self) {
        if self.0.is_none() {
            self.0 = parent.0.clone();
        }
    }
}

#[derive(Clone, Default, Debug)]
struct Referers {
    /// `none`: no Referer header is valid.
    none: bool,
    /// `blocked`: a Referer without `http://` or `https://` (a firewall's doing) is valid.
    blocked: bool,
    /// `server_names`: the server's own names are valid.
    server_names: bool,
    /// Names (with wildcards) and the URI prefix each asks for ("" for none).
    names: Vec<(Name, String)>,
    /// `~regex`: matched, ignoring case, against the Referer after its scheme.
    regexes: Vec<pcre2::bytes::Regex>,
}

/// A host name as `valid_referers` and `server_name` write it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Name {
    Exact(String),
    /// `*.example.com`: any subdomain (stored `.example.com`).
    WildStart(String),
    /// `.example.com`: the name and any subdomain (stored `example.com`).
    Dot(String),
    /// `www.example.*` (stored `www.example.`).
    WildEnd(String),
}

impl Name {
    fn parse(s: &str) -> Option<Name> {
        let s = s.to_ascii_lowercase();
        let name = if let Some(rest) = s.strip_prefix("*.") {
            Name::WildStart(format!(".{rest}"))
        } else if let Some(rest) = s.strip_suffix(".*") {
            Name::WildEnd(format!("{rest}."))
        } else if let Some(rest) = s.strip_prefix('.') {
            Name::Dot(rest.to_string())
        } else {
            Name::Exact(s)
        };
        match &name {
            Name::Exact(n) | Name::WildStart(n) | Name::Dot(n) | Name::WildEnd(n)
                if n.contains('*') || n.is_empty() || n == "." =>
            {
                None
            }
            _ => Some(name),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Name::Exact(n) => host == n,
            Name::WildStart(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
            Name::Dot(n) => {
                host == n
                    || (host.len() > n.len()
                        && host.ends_with(n.as_str())
                        && host[..host.len() - n.len()].ends_with('.'))
            }
            Name::WildEnd(prefix) => host.len() > prefix.len() && host.starts_with(prefix.as_str()),
        }
    }
}

/// (several `valid_referers` in one block add up, as in nginx)
fn valid_referers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let own = b.loc().conf::<RefererConf>().0.take();
    let mut refs = own.map(|r| (*r).clone()).unwrap_or_default();
    for v in cmd.values() {
        match v {
            "none" => refs.none = true,
            "blocked" => refs.blocked = true,
            "server_names" => refs.server_names = true,
            _ if v.starts_with('~') => {
                let pattern = &v[1..];
                let re = pcre2::bytes::RegexBuilder::new()
                    .caseless(true)
                    .jit_if_available(true)
                    .build(pattern)
                    .map_err(|e| cmd.error(format!("pcre2_compile() failed: {e} in \"{pattern}\"")))?;
                refs.regexes.push(re);
            }
            _ => {
                let (host, uri) = match v.find('/') {
                    Some(i) => (&v[..i], &v[i..]),
                    None => (v, ""),
                };
                let name =
                    Name::parse(host).ok_or_else(|| cmd.error(format!("invalid hostname or wildcard \"{v}\"")))?;
                refs.names.push((name, uri.to_string()));
            }
        }
    }
    b.loc().conf::<RefererConf>().0 = Some(Arc::new(refs));
    Ok(())
}

fn accepted(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    conf::value::size(cmd, cmd.arg(0)).map(|_| ())
}

/// `$invalid_referer`: "1" when the Referer is not valid, "" when it is or when no
/// `valid_referers` applies.
fn invalid_referer(r: &Request) -> Option<String> {
    let valid = match r.loc.ext.get::<RefererConf>().and_then(|c| c.0.clone()) {
        None => true,
        Some(refs) => refs.valid(r.header_in("referer"), &r.server.names),
    };
    Some(if valid { String::new() } else { "1".to_string() })
}

impl Referers {
    fn valid(&self, referer: Option<&str>, server_names: &[ServerName]) -> bool {
        let Some(referer) = referer else {
            return self.none;
        };
        // (nginx looks at a Referer only as long as "http://i.ru")
        let rest = if referer.len() >= "http://i.ru".len() {
            crate::h1::strip_http_scheme(referer)
        } else {
            None
        };
        let Some(rest) = rest else {
            return self.blocked;
        };
        let host_end = rest.find(['/', ':']).unwrap_or(rest.len());
        let host = rest[..host_end].to_ascii_lowercase();
        // (nginx's buffer for the name holds 256 bytes)
        if host.len() > 256 {
            return false;
        }
        let path = rest[host_end..].find('/').map_or("", |i| &rest[host_end + i..]);
        for (name, uri) in &self.names {
            if name.matches(&host) {
                return uri.is_empty() || path.starts_with(uri.as_str());
            }
        }
        if self.server_names && server_names.iter().any(|n| server_name_matches(n, &host)) {
            return true;
        }
        self.regexes
            .iter()
            .any(|re| re.is_match(rest.as_bytes()).unwrap_or(false))
    }
}

fn server_name_matches(n: &ServerName, host: &str) -> bool {
    match n {
        ServerName::Exact(s) => !s.is_empty() && s == host,
        ServerName::WildStart(s) => Name::WildStart(s.clone()).matches(host),
        ServerName::WildEnd(s) => Name::WildEnd(s.clone()).matches(host),
        ServerName::Dot(s) => Name::Dot(s.clone()).matches(host),
        ServerName::Regex(_, re) => re.is_match(host.as_bytes()).unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(words: &[&str]) -> Referers {
        let mut r = Referers::default();
        for w in words {
            match *w {
                "none" => r.none = true,
                "blocked" => r.blocked = true,
                "server_names" => r.server_names = true,
                _ if w.starts_with('~') => r
                    .regexes
                    .push(pcre2::bytes::RegexBuilder::new().caseless(true).build(&w[1..]).unwrap()),
                _ => {
                    let (host, uri) = w.split_at(w.find('/').unwrap_or(w.len()));
                    r.names.push((Name::parse(host).unwrap(), uri.to_string()));
                }
            }
        }
        r
    }

    #[test]
    fn names_wildcards_and_uri_prefixes() {
        let r = refs(&[
            "none",
            "example.com",
            "*.example.org",
            "www.example.*",
            ".example.net/pics/",
        ]);
        let names = [];
        let ok = |referer: Option<&str>| r.valid(referer, &names);
        assert!(ok(None));
        assert!(ok(Some("http://example.com/")));
        assert!(ok(Some("HTTPS://EXAMPLE.COM:8080/x")));
        assert!(!ok(Some("http://a.example.com/")));
        assert!(ok(Some("http://a.example.org/x")));
        assert!(!ok(Some("http://example.org/x")));
        assert!(ok(Some("http://www.example.de")));
        assert!(ok(Some("http://example.net/pics/1.png")));
        assert!(ok(Some("http://a.example.net:81/pics/1.png")));
        assert!(!ok(Some("http://example.net/other")));
        assert!(!ok(Some("example.com")));
        assert!(!ok(Some("http://evil.com/example.com")));
    }

    #[test]
    fn blocked_regex_and_server_names() {
        let r = refs(&["blocked", "server_names", "~\\.google\\."]);
        let names = [
            ServerName::Exact("site.test".into()),
            ServerName::WildStart(".cdn.test".into()),
        ];
        let ok = |referer: &str| r.valid(Some(referer), &names);
        assert!(ok("no scheme here"));
        assert!(ok("http://site.test/page"));
        assert!(ok("http://a.cdn.test/"));
        assert!(ok("http://www.GOOGLE.com/search"));
        assert!(!ok("http://other.test/"));
        assert!(!r.valid(None, &names));
    }

    #[test]
    fn bad_wildcards_are_refused() {
        for bad in ["a.*.com", "*", "*.", ".", "ex*ample.com"] {
            assert_eq!(Name::parse(bad), None, "{bad}");
        }
    }
}
