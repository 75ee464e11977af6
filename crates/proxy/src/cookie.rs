//! `proxy_cookie_domain` and `proxy_cookie_path`: the `domain=` and `path=` attributes of
//! an upstream's Set-Cookie rewritten, as nginx does. The first rule that matches wins; a
//! text domain matches the whole domain (case aside, a leading dot ignored on both sides),
//! a text path the start of the path; a `~`/`~*` regex rule replaces the whole value with
//! its replacement (captures usable). `off` at a level rewrites nothing there.
//!
//! `proxy_cookie_flags`: a cookie's (by name, or `~`/`~*` regex) Secure, HttpOnly and
//! SameSite attributes added, changed or removed, as nginx does: removals first, a
//! SameSite of another value replaced in place, missing ones appended in nginx's order
//! (Secure, HttpOnly, SameSite), present ones left as they are written.

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

/// Which cookies a `proxy_cookie_flags` rule is for.
#[derive(Clone, Debug)]
pub enum CookieName {
    Text(Template),
    Regex(Rc<pcre2::bytes::Regex>),
}

/// One `proxy_cookie_flags` rule: the cookie and its flags (variables allowed, read per
/// answer; words that are no flag are ignored, as nginx ignores them).
#[derive(Clone, Debug)]
pub struct FlagRule {
    name: CookieName,
    flags: Vec<Template>,
}

/// What a rule's flags do to Secure, HttpOnly (Some(true): add, Some(false): remove) and
/// SameSite (Some(Some(v)): set, Some(None): remove).
#[derive(Default)]
struct Flags {
    secure: Option<bool>,
    httponly: Option<bool>,
    samesite: Option<Option<&'static str>>,
}

impl Flags {
    fn of(words: impl Iterator<Item = String>) -> Flags {
        let mut f = Flags::default();
        for w in words {
            match w.to_ascii_lowercase().as_str() {
                "secure" => f.secure = Some(true),
                "nosecure" => f.secure = Some(false),
                "httponly" => f.httponly = Some(true),
                "nohttponly" => f.httponly = Some(false),
                "samesite=strict" => f.samesite = Some(Some("Strict")),
                "samesite=lax" => f.samesite = Some(Some("Lax")),
                "samesite=none" => f.samesite = Some(Some("None")),
                "nosamesite" => f.samesite = Some(None),
                _ => {}
            }
        }
        f
    }
}

/// A level's `proxy_cookie_flags` rules (`None` in the conf: inherited; empty: `off`).
pub type FlagRules = Rc<Vec<FlagRule>>;

/// `proxy_cookie_flags off | COOKIE FLAG...`.
pub fn flags_directive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let current = b.loc().conf::<crate::ProxyConf>().cookie_flags.clone();
    if cmd.args.len() == 1 {
        if cmd.arg(0) != "off" {
            return Err(cmd.error(format!("invalid number of arguments in \"{}\" directive", cmd.name)));
        }
        if current.is_some() {
            return Err(cmd.duplicate());
        }
        b.loc().conf::<crate::ProxyConf>().cookie_flags = Some(Rc::new(Vec::new()));
        return Ok(());
    }
    if current.as_ref().is_some_and(|r| r.is_empty()) {
        return Err(cmd.duplicate());
    }
    let name = match cmd.arg(0).strip_prefix('~') {
        Some(re) => {
            let (re, caseless) = match re.strip_prefix('*') {
                Some(re) => (re, true),
                None => (re, false),
            };
            CookieName::Regex(Rc::new(b.regex(cmd, re, caseless)?))
        }
        None => CookieName::Text(b.template(cmd, cmd.arg(0))?),
    };
    let mut flags = Vec::new();
    for flag in cmd.values().skip(1) {
        flags.push(b.template(cmd, flag)?);
    }
    let rule = FlagRule { name, flags };
    let mut rules = current.map(|r| (*r).clone()).unwrap_or_default();
    rules.push(rule);
    b.loc().conf::<crate::ProxyConf>().cookie_flags = Some(Rc::new(rules));
    Ok(())
}

/// A Set-Cookie value with its flags set by the first rule for its cookie (`None`:
/// unchanged).
pub fn set_flags(r: &mut Request, value: &str, rules: &[FlagRule]) -> Option<String> {
    let cookie = value.split(';').next()?.split('=').next()?.trim();
    let rule = rules.iter().find(|rule| match &rule.name {
        CookieName::Text(t) => t.render(r) == cookie,
        CookieName::Regex(re) => r.capture(re, cookie),
    })?;
    let rule = Flags::of(rule.flags.iter().map(|t| t.render(r)));
    let is = |part: &str, attr: &str| {
        let p = part.trim();
        let name = p.split('=').next().unwrap_or("").trim();
        name.eq_ignore_ascii_case(attr)
    };
    let mut parts: Vec<String> = Vec::new();
    let (mut secure, mut httponly, mut samesite) = (false, false, false);
    for (i, part) in value.split(';').enumerate() {
        if i > 0 {
            if is(part, "secure") {
                if rule.secure == Some(false) {
                    continue;
                }
                secure = true;
            } else if is(part, "httponly") {
                if rule.httponly == Some(false) {
                    continue;
                }
                httponly = true;
            } else if is(part, "samesite") {
                match rule.samesite {
                    Some(None) => continue,
                    Some(Some(v)) => {
                        samesite = true;
                        let current = part.split_once('=').map_or("", |(_, v)| v.trim());
                        if !current.eq_ignore_ascii_case(v) {
                            parts.push(format!(" SameSite={v}"));
                            continue;
                        }
                    }
                    None => samesite = true,
                }
            }
        }
        parts.push(part.to_string());
    }
    if rule.secure == Some(true) && !secure {
        parts.push(" Secure".into());
    }
    if rule.httponly == Some(true) && !httponly {
        parts.push(" HttpOnly".into());
    }
    if let (Some(Some(v)), false) = (rule.samesite, samesite) {
        parts.push(format!(" SameSite={v}"));
    }
    let out = parts.join(";");
    (out != value).then_some(out)
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
