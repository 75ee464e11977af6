//! `proxy_cookie_domain` and `proxy_cookie_path`: the `domain=` and `path=` attributes of
//! an upstream's Set-Cookie rewritten, as nginx does. The first rule that matches wins; a
//! text domain matches the whole domain (case aside, a leading dot ignored on both sides),
//! a text path the start of the path; a `~`/`~*` regex rule replaces the whole value with
//! its replacement (captures usable). `off` at a level rewrites nothing there.

use std::rc::Rc;

use conf::{Cmd, Result};
use http::builder::HttpBuilder;
use http::request::Request;
use http::template::Template;

/// One rule.
#[derive(Clone, Debug)]
pub enum Rule {
    Text {
        pattern: Template,
        replacement: Template,
    },
    Regex {
        regex: Rc<pcre2::bytes::Regex>,
        replacement: Template,
    },
}

/// A level's rules for one attribute (`None` in the conf: inherited; empty: `off`).
pub type Rules = Rc<Vec<Rule>>;

/// Which attribute a directive rewrites.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Domain,
    Path,
}

/// `proxy_cookie_domain off | DOMAIN REPLACEMENT`, `proxy_cookie_path off | PATH REPLACEMENT`.
pub fn directive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let attr = if cmd.name == "proxy_cookie_domain" {
        Attr::Domain
    } else {
        Attr::Path
    };
    let current = match attr {
        Attr::Domain => b.loc().conf::<crate::ProxyConf>().cookie_domain.clone(),
        Attr::Path => b.loc().conf::<crate::ProxyConf>().cookie_path.clone(),
    };
    let rules = if cmd.args.len() == 1 {
        if cmd.arg(0) != "off" {
            return Err(cmd.error(format!("invalid parameter \"{}\"", cmd.arg(0))));
        }
        if current.is_some() {
            return Err(cmd.duplicate());
        }
        Vec::new()
    } else {
        if current.as_ref().is_some_and(|r| r.is_empty()) {
            return Err(cmd.duplicate());
        }
        let mut rules = current.map(|r| (*r).clone()).unwrap_or_default();
        let replacement = b.template(cmd, cmd.arg(1))?;
        let rule = match cmd.arg(0).strip_prefix('~') {
            Some(re) => {
                let (re, caseless) = match re.strip_prefix('*') {
                    Some(re) => (re, true),
                    None => (re, false),
                };
                Rule::Regex {
                    regex: Rc::new(b.regex(cmd, re, caseless)?),
                    replacement,
                }
            }
            None => {
                let mut text = cmd.arg(0);
                if attr == Attr::Domain {
                    text = text.strip_prefix('.').unwrap_or(text);
                }
                Rule::Text {
                    pattern: b.template(cmd, text)?,
                    replacement,
                }
            }
        };
        rules.push(rule);
        rules
    };
    let c = b.loc().conf::<crate::ProxyConf>();
    match attr {
        Attr::Domain => c.cookie_domain = Some(Rc::new(rules)),
        Attr::Path => c.cookie_path = Some(Rc::new(rules)),
    }
    Ok(())
}

/// A Set-Cookie value with its `domain=` and `path=` rewritten (`None`: unchanged).
pub fn rewrite(r: &mut Request, value: &str, domains: &[Rule], paths: &[Rule]) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 16);
    let mut changed = false;
    // the first part is the cookie itself; attributes follow, each after a ';'
    for (i, part) in value.split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        let rewritten = (i > 0).then(|| attribute(r, part, domains, paths)).flatten();
        match rewritten {
            Some(new) => {
                out.push_str(&new);
                changed = true;
            }
            None => out.push_str(part),
        }
    }
    changed.then_some(out)
}

/// One attribute (` Domain=x`) rewritten by its rules, its spacing and name kept.
fn attribute(r: &mut Request, part: &str, domains: &[Rule], paths: &[Rule]) -> Option<String> {
    let trimmed = part.trim_start();
    let lead = &part[..part.len() - trimmed.len()];
    let (name, value) = trimmed.split_once('=')?;
    let (rules, attr) = if name.eq_ignore_ascii_case("domain") {
        (domains, Attr::Domain)
    } else if name.eq_ignore_ascii_case("path") {
        (paths, Attr::Path)
    } else {
        return None;
    };
    let new = apply(r, rules, attr, value)?;
    Some(format!("{lead}{name}={new}"))
}

fn apply(r: &mut Request, rules: &[Rule], attr: Attr, value: &str) -> Option<String> {
    for rule in rules {
        match rule {
            Rule::Text { pattern, replacement } => {
                let pattern = pattern.render(r);
                // (a domain's leading dot stays in front of its replacement)
                let hit = match attr {
                    Attr::Domain => {
                        let (dot, bare) = match value.strip_prefix('.') {
                            Some(bare) => (".", bare),
                            None => ("", value),
                        };
                        bare.eq_ignore_ascii_case(&pattern).then_some((dot, ""))
                    }
                    Attr::Path => value.strip_prefix(pattern.as_str()).map(|rest| ("", rest)),
                };
                if let Some((before, rest)) = hit {
                    return Some(format!("{before}{}{rest}", replacement.render(r)));
                }
            }
            Rule::Regex { regex, replacement } => {
                if r.capture(regex, value) {
                    return Some(replacement.render(r));
                }
            }
        }
    }
    None
}
