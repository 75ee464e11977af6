//! `proxy_redirect`: the `Location` and `Refresh` headers of an upstream's answer
//! rewritten, as nginx does: the first rule that matches wins; a text rule replaces the
//! prefix it matched, a regex rule the whole value (its captures usable in the
//! replacement); a value changed into a relative one is made absolute as nginx's header
//! filter makes it (`absolute_redirect`). Without the directive a location gets the
//! `default` rule: the `proxy_pass` URL becomes the location's prefix.

use std::rc::Rc;

use conf::{Cmd, Result};
use http::builder::HttpBuilder;
use http::request::Request;
use http::template::Template;

/// One `proxy_redirect` rule.
#[derive(Clone, Debug)]
pub enum Rule {
    /// `default`: made into a `Prefix` rule when the location's handler is built.
    Default,
    Prefix {
        pattern: Template,
        replacement: Template,
    },
    Regex {
        regex: Rc<pcre2::bytes::Regex>,
        replacement: Template,
    },
}

/// A level's `proxy_redirect` setting.
#[derive(Clone, Debug)]
pub enum Redirects {
    /// `proxy_redirect off` (or `false`): values go as the upstream sent them.
    Off,
    Rules(Rc<Vec<Rule>>),
}

/// `proxy_redirect default | off | REDIRECT REPLACEMENT`.
pub fn directive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let current = b.loc().conf::<crate::ProxyConf>().redirects.clone();
    // (after `off` a level rewrites nothing, whatever follows it)
    if matches!(current, Some(Redirects::Off)) {
        return Ok(());
    }
    let first = cmd.arg(0);
    if cmd.args.len() == 1 {
        match first {
            "off" | "false" => {
                b.loc().conf::<crate::ProxyConf>().redirects = Some(Redirects::Off);
                return Ok(());
            }
            "default" => {}
            other => return Err(cmd.error(format!("invalid parameter \"{other}\""))),
        }
    }
    let rule = if first == "default" {
        let pass = b.loc().conf::<crate::ProxyConf>().pass.clone();
        match pass {
            None => {
                return Err(cmd.error("\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive"));
            }
            Some(p) if p.url.literal().is_none() => {
                return Err(
                    cmd.error("\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables")
                );
            }
            Some(_) => Rule::Default,
        }
    } else if let Some(re) = first.strip_prefix('~') {
        let (re, caseless) = match re.strip_prefix('*') {
            Some(re) => (re, true),
            None => (re, false),
        };
        Rule::Regex {
            regex: Rc::new(b.regex(cmd, re, caseless)?),
            replacement: b.template(cmd, cmd.arg(1))?,
        }
    } else {
        Rule::Prefix {
            pattern: b.template(cmd, first)?,
            replacement: b.template(cmd, cmd.arg(1))?,
        }
    };
    let mut rules = match current {
        Some(Redirects::Rules(r)) => (*r).clone(),
        _ => Vec::new(),
    };
    rules.push(rule);
    b.loc().conf::<crate::ProxyConf>().redirects = Some(Redirects::Rules(Rc::new(rules)));
    Ok(())
}

/// The rules a location with `proxy_pass` applies: its own or inherited ones, `default`
/// made concrete from the URL (`url` without variables; `location` its prefix).
pub fn resolve(redirects: Option<&Redirects>, url: Option<&str>, location: Option<&str>) -> Vec<Rule> {
    let default = || {
        let url = url?;
        let has_uri = crate::split_url(url).is_some_and(|(_, uri)| uri.is_some());
        let (pattern, replacement) = if has_uri {
            (url.to_string(), location.unwrap_or("/").to_string())
        } else {
            (format!("{url}/"), "/".to_string())
        };
        // (the URL has no variables, so neither has either side)
        Some(Rule::Prefix {
            pattern: Template::parse(&pattern).ok()?,
            replacement: Template::parse(&replacement).ok()?,
        })
    };
    match redirects {
        Some(Redirects::Off) => Vec::new(),
        None => default().into_iter().collect(),
        Some(Redirects::Rules(rules)) => rules
            .iter()
            .filter_map(|rule| match rule {
                Rule::Default => default(),
                other => Some(other.clone()),
            })
            .collect(),
    }
}

/// The value rewritten by the first rule that matches (`None`: none does). For
/// `Refresh` only what follows `url=` is looked at.
pub fn rewrite(r: &mut Request, rules: &[Rule], header: &str, value: &str) -> Option<String> {
    let start = if header.eq_ignore_ascii_case("refresh") {
        let lower = value.to_ascii_lowercase();
        lower.find("url=")? + 4
    } else {
        0
    };
    let (head, target) = value.split_at(start);
    for rule in rules {
        let replaced = match rule {
            Rule::Default => None,
            Rule::Prefix { pattern, replacement } => {
                let pattern = pattern.render(r);
                target
                    .strip_prefix(pattern.as_str())
                    .map(|rest| format!("{}{rest}", replacement.render(r)))
            }
            Rule::Regex { regex, replacement } => r.capture(regex, target).then(|| replacement.render(r)),
        };
        if let Some(new) = replaced {
            return Some(if start == 0 {
                r.absolute_location(&new)
            } else {
                format!("{head}{new}")
            });
        }
    }
    None
}
