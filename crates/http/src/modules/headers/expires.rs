//! nginx's `expires`: the Expires and Cache-Control headers of successful responses.

use crate::phase::HeaderFilter;
use crate::request::Request;
use crate::template::Template;

/// `expires [modified] time | @time-of-day | epoch | max | off | $variable`.
#[derive(Clone)]
pub enum Expires {
    Off,
    Epoch,
    Max,
    /// Seconds after the request (or, `modified`, after the response's Last-Modified).
    After {
        secs: i64,
        modified: bool,
    },
    /// `@15h30m`: the next such time of day (local time).
    Daily(i64),
    /// A value read at request time (`expires $expires;`, usually a map).
    Var {
        value: Template,
        modified: bool,
    },
}

/// Reads the directive's arguments; `Err` is nginx's message.
pub fn parse(args: &[&str]) -> Result<Option<Expires>, String> {
    let (modified, value) = match args {
        [v] => (false, *v),
        ["modified", v] => (true, *v),
        [other, _] => return Err(format!("invalid value \"{other}\"")),
        _ => return Err("invalid number of arguments".into()),
    };
    if value.contains('$') {
        // (the template is made by the caller, which checks its variables)
        return Ok(None);
    }
    Ok(Some(match value {
        "epoch" if !modified => Expires::Epoch,
        "max" if !modified => Expires::Max,
        "off" if !modified => Expires::Off,
        _ => time(value, modified)?,
    }))
}

/// A time value: `30d`, `-1`, `1h30m`, `@15h` (daily).
fn time(value: &str, modified: bool) -> Result<Expires, String> {
    let invalid = || format!("invalid value \"{value}\"");
    if let Some(day_time) = value.strip_prefix('@') {
        if modified {
            return Err("daily time cannot be used with \"modified\" parameter".into());
        }
        let secs = seconds(day_time).ok_or_else(invalid)?;
        if secs >= 86_400 {
            return Err("daily time value must be less than 24 hours".into());
        }
        return Ok(Expires::Daily(secs));
    }
    let (negative, rest) = match value.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let secs = seconds(rest).ok_or_else(invalid)?;
    Ok(Expires::After {
        secs: if negative { -secs } else { secs },
        modified,
    })
}

/// nginx's time units in whole seconds (`ms` is not one here).
fn seconds(v: &str) -> Option<i64> {
    if v.contains("ms") {
        return None;
    }
    i64::try_from(conf::value::parse_msec(v)? / 1000).ok()
}

/// The header filter of a location with `expires`.
pub struct ExpiresFilter(pub Expires);

impl HeaderFilter for ExpiresFilter {
    fn filter(&self, r: &mut Request) {
        // the statuses add_header counts as successful
        if !matches!(r.status, 200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308) {
            return;
        }
        let rule = match &self.0 {
            Expires::Var { value, modified } => {
                let text = value.render(r);
                let parsed = if *modified {
                    parse(&["modified", &text])
                } else {
                    parse(&[&text])
                };
                match parsed {
                    Ok(Some(rule)) => rule,
                    // (a variable's value naming a variable, or not a time: nothing is set)
                    _ => return,
                }
            }
            rule => rule.clone(),
        };
        let now = crate::time::now_sec();
        let (expires, cache_control) = match rule {
            Expires::Off | Expires::Var { .. } => return,
            Expires::Epoch => ("Thu, 01 Jan 1970 00:00:01 GMT".to_string(), "no-cache".to_string()),
            Expires::Max => (
                "Thu, 31 Dec 2037 23:55:55 GMT".to_string(),
                "max-age=315360000".to_string(),
            ),
            Expires::Daily(at) => {
                let local = now + crate::time::local_offset(now);
                let mut next = now - local.rem_euclid(86_400) + at;
                if next <= now {
                    next += 86_400;
                }
                (date(next), format!("max-age={}", next - now))
            }
            Expires::After { secs, modified } => {
                let last_modified = modified
                    .then(|| {
                        r.headers_out
                            .get("last-modified")
                            .and_then(crate::time::parse_http_date)
                    })
                    .flatten()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64);
                let (at, max_age) = match last_modified {
                    Some(lm) => (lm + secs, lm + secs - now),
                    None => (now + secs, secs),
                };
                let cc = if secs < 0 || max_age < 0 {
                    "no-cache".to_string()
                } else {
                    format!("max-age={max_age}")
                };
                (date(at), cc)
            }
        };
        r.headers_out.set("Expires", expires);
        r.headers_out.set("Cache-Control", cache_control);
    }
}

fn date(secs: i64) -> String {
    crate::time::http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nginx_forms() {
        assert!(matches!(
            parse(&["30d"]),
            Ok(Some(Expires::After {
                secs: 2_592_000,
                modified: false
            }))
        ));
        assert!(matches!(parse(&["-1"]), Ok(Some(Expires::After { secs: -1, .. }))));
        assert!(matches!(
            parse(&["modified", "1h"]),
            Ok(Some(Expires::After {
                secs: 3600,
                modified: true
            }))
        ));
        assert!(matches!(parse(&["@15h30m"]), Ok(Some(Expires::Daily(55_800)))));
        assert!(matches!(parse(&["max"]), Ok(Some(Expires::Max))));
        assert!(matches!(parse(&["$e"]), Ok(None)));
        assert_eq!(
            parse(&["@25h"]).err().unwrap(),
            "daily time value must be less than 24 hours"
        );
        assert_eq!(parse(&["soon"]).err().unwrap(), "invalid value \"soon\"");
        assert_eq!(parse(&["later", "1h"]).err().unwrap(), "invalid value \"later\"");
        assert!(parse(&["10ms"]).is_err());
    }
}
