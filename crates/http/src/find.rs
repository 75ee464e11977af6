//! Picking the server by Host and the location by URI, with nginx's precedence.

use std::rc::Rc;

use crate::config::{Location, Match, Server, ServerName};

/// Finds the location for `uri` among `locs` (nginx's ngx_http_core_find_location):
/// an exact match wins at once; else the longest prefix is remembered (and its nested
/// locations searched); a `^~` longest prefix skips regexes; else the first matching regex
/// wins; else the longest prefix.
pub fn location(locs: &[Rc<Location>], uri: &str) -> Option<Rc<Location>> {
    find(locs, uri).map(|(l, _)| l)
}

/// Returns the location and whether the match is final (exact or regex) for the caller.
fn find(locs: &[Rc<Location>], uri: &str) -> Option<(Rc<Location>, bool)> {
    let mut best: Option<&Rc<Location>> = None;
    let mut best_len = 0;
    for l in locs {
        match &l.matcher {
            Match::Exact(s) if s == uri => return Some((l.clone(), true)),
            Match::Prefix(s) | Match::PrefixNoRegex(s)
                if uri.starts_with(s.as_str()) && (best.is_none() || s.len() > best_len) =>
            {
                best = Some(l);
                best_len = s.len();
            }
            _ => {}
        }
    }
    let mut candidate = best.map(|b| (b.clone(), false));
    if let Some(b) = best {
        if !b.nested.is_empty()
            && let Some((n, fin)) = find(&b.nested, uri)
        {
            if fin {
                return Some((n, true));
            }
            candidate = Some((n, false));
        }
        if matches!(b.matcher, Match::PrefixNoRegex(_)) {
            return candidate;
        }
    }
    for l in locs {
        if let Match::Regex { re, .. } = &l.matcher
            && re.is_match(uri.as_bytes()).unwrap_or(false)
        {
            if !l.nested.is_empty()
                && let Some((n, _)) = find(&l.nested, uri)
            {
                return Some((n, true));
            }
            return Some((l.clone(), true));
        }
    }
    candidate
}

/// Picks the server for `host` among those on one listen address: exact name, then the
/// longest leading wildcard, then the longest trailing wildcard, then the first regex,
/// else the default server.
pub fn server<'a>(servers: &'a [Rc<Server>], default: usize, host: Option<&str>) -> &'a Rc<Server> {
    server_and_regex(servers, default, host).0
}

/// [`server`], and the regex name that picked it, if one did (its captures are the
/// request's, as in nginx).
pub fn server_and_regex<'a>(
    servers: &'a [Rc<Server>],
    default: usize,
    host: Option<&str>,
) -> (&'a Rc<Server>, Option<&'a pcre2::bytes::Regex>) {
    let fallback = &servers[default.min(servers.len() - 1)];
    let Some(host) = host else {
        return (fallback, None);
    };
    let mut wild_start: Option<(&Rc<Server>, usize)> = None;
    let mut wild_end: Option<(&Rc<Server>, usize)> = None;
    for s in servers {
        for n in &s.names {
            match n {
                ServerName::Exact(e) if e.eq_ignore_ascii_case(host) => return (s, None),
                ServerName::WildStart(suffix)
                    if host.len() > suffix.len()
                        && ends_with_ci(host, suffix)
                        && wild_start.is_none_or(|(_, l)| suffix.len() > l) =>
                {
                    wild_start = Some((s, suffix.len()));
                }
                ServerName::Dot(d) => {
                    let hit = host.eq_ignore_ascii_case(d)
                        || (host.len() > d.len() + 1
                            && ends_with_ci(host, d)
                            && host.as_bytes()[host.len() - d.len() - 1] == b'.');
                    if hit && wild_start.is_none_or(|(_, l)| d.len() + 1 > l) {
                        wild_start = Some((s, d.len() + 1));
                    }
                }
                ServerName::WildEnd(prefix)
                    if host.len() > prefix.len()
                        && host[..prefix.len()].eq_ignore_ascii_case(prefix)
                        && wild_end.is_none_or(|(_, l)| prefix.len() > l) =>
                {
                    wild_end = Some((s, prefix.len()));
                }
                _ => {}
            }
        }
    }
    if let Some((s, _)) = wild_start.or(wild_end) {
        return (s, None);
    }
    for s in servers {
        for n in &s.names {
            if let ServerName::Regex(_, re) = n
                && re.is_match(host.as_bytes()).unwrap_or(false)
            {
                return (s, Some(re));
            }
        }
    }
    (fallback, None)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::ext::Extensions;
    use crate::phase::PhaseTable;

    fn loc(m: Match, nested: Vec<Rc<Location>>) -> Rc<Location> {
        Rc::new(Location {
            matcher: m,
            settings: Settings::default(),
            ext: Extensions::default(),
            internal: false,
            alias: None,
            nested,
            phases: PhaseTable::default(),
            limit_except: None,
        })
    }

    fn re(s: &str, caseless: bool) -> Match {
        let re = pcre2::bytes::RegexBuilder::new().caseless(caseless).build(s).unwrap();
        Match::Regex {
            source: s.into(),
            caseless,
            re: std::sync::Arc::new(re),
        }
    }

    fn name(l: Option<Rc<Location>>) -> String {
        l.map(|l| l.describe()).unwrap_or_default()
    }

    #[test]
    fn nginx_precedence() {
        let locs = vec![
            loc(Match::Exact("/".into()), vec![]),
            loc(Match::Prefix("/".into()), vec![]),
            loc(Match::Prefix("/documents/".into()), vec![]),
            loc(Match::PrefixNoRegex("/images/".into()), vec![]),
            loc(re(r"\.(gif|jpg|jpeg)$", true), vec![]),
        ];
        assert_eq!(name(location(&locs, "/")), "= /");
        assert_eq!(name(location(&locs, "/index.html")), "/");
        assert_eq!(name(location(&locs, "/documents/document.html")), "/documents/");
        assert_eq!(name(location(&locs, "/images/1.gif")), "^~ /images/");
        assert_eq!(name(location(&locs, "/documents/1.JPG")), "~* \\.(gif|jpg|jpeg)$");
    }

    fn server(names: &[ServerName]) -> Rc<Server> {
        Rc::new(Server {
            listens: vec![],
            names: names.to_vec(),
            settings: crate::config::ServerSettings::default(),
            loc: loc(Match::Prefix(String::new()), vec![]),
            locations: vec![],
            named: Default::default(),
            server_rewrite: PhaseTable::default(),
            tls: None,
            at: None,
        })
    }

    #[test]
    fn server_name_precedence() {
        let re = |s: &str| ServerName::Regex(s.into(), std::sync::Arc::new(pcre2::bytes::Regex::new(s).unwrap()));
        let servers = vec![
            server(&[ServerName::Exact("default.test".into())]),
            server(&[re(r"^api\d+\.example\.com$")]),
            server(&[ServerName::WildStart(".example.com".into())]),
            server(&[ServerName::WildStart(".deep.example.com".into())]),
            server(&[ServerName::WildEnd("www.example.".into())]),
            server(&[ServerName::Exact("www.example.com".into())]),
            server(&[ServerName::Dot("dot.test".into())]),
        ];
        let pick = |h: Option<&str>| {
            servers
                .iter()
                .position(|s| Rc::ptr_eq(s, super::server(&servers, 0, h)))
                .unwrap()
        };
        assert_eq!(pick(Some("www.example.com")), 5, "exact wins");
        assert_eq!(pick(Some("a.example.com")), 2, "leading wildcard");
        assert_eq!(pick(Some("x.deep.example.com")), 3, "longest leading wildcard");
        assert_eq!(pick(Some("api7.example.com")), 2, "wildcards before regexes");
        assert_eq!(pick(Some("www.example.org")), 4, "trailing wildcard");
        assert_eq!(pick(Some("dot.test")), 6, "a dot name matches itself");
        assert_eq!(pick(Some("a.b.dot.test")), 6, "and its subdomains");
        assert_eq!(pick(Some("example.com")), 0, ".example.com via *.: not the bare name");
        assert_eq!(pick(Some("nothing.here")), 0, "default server");
        assert_eq!(pick(None), 0, "no host: default server");
        let only_re = vec![server(&[ServerName::Exact("d".into())]), server(&[re(r"^api\d+\.")])];
        assert!(
            Rc::ptr_eq(super::server(&only_re, 0, Some("api1.x")), &only_re[1]),
            "regex"
        );
    }

    #[test]
    fn nested_locations() {
        let inner = vec![
            loc(Match::Prefix("/a/b".into()), vec![]),
            loc(re(r"\.php$", false), vec![]),
        ];
        let locs = vec![loc(Match::Prefix("/a".into()), inner), loc(re(r"^/a/x", false), vec![])];
        assert_eq!(name(location(&locs, "/a/b/c")), "/a/b");
        assert_eq!(name(location(&locs, "/a/b/c.php")), "~ \\.php$");
        assert_eq!(name(location(&locs, "/a/x")), "~ ^/a/x");
        assert_eq!(name(location(&locs, "/z")), "");
    }
}
