//! Value parsers for nginx's argument types: sizes, times, flags.

use crate::ast::Cmd;
use crate::error::Result;

/// `on` / `off`, as nginx's `ngx_conf_set_flag_slot`.
pub fn flag(cmd: &Cmd, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(cmd.invalid_value(v, "it must be \"on\" or \"off\"")),
    }
}

/// A size: `1024`, `8k`, `10m`, `1g` (bytes). nginx's error: `"x" directive invalid value`.
pub fn size(cmd: &Cmd, v: &str) -> Result<u64> {
    parse_size(v).ok_or_else(|| cmd.error(format!("\"{}\" directive invalid value", cmd.name)))
}

pub fn parse_size(v: &str) -> Option<u64> {
    let (num, mul) = match v.as_bytes().last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&v[..v.len() - 1], 1 << 20),
        b'g' | b'G' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// A time in milliseconds: `500ms`, `30s`, `1h 30m`, `2d`, bare numbers are seconds.
pub fn msec(cmd: &Cmd, v: &str) -> Result<u64> {
    parse_msec(v).ok_or_else(|| cmd.error(format!("\"{}\" directive invalid value", cmd.name)))
}

pub fn parse_msec(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: u64 = v[start..i].parse().ok()?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mul = match &v[unit_start..i] {
            "ms" => 1,
            "" | "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "M" => 30 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mul)?)?;
    }
    Some(total)
}

/// A time in whole seconds (nginx's `ngx_conf_set_sec_slot`): `ms` is not accepted.
pub fn sec(cmd: &Cmd, v: &str) -> Result<u64> {
    if v.contains("ms") {
        return Err(cmd.error(format!("\"{}\" directive invalid value", cmd.name)));
    }
    Ok(msec(cmd, v)? / 1000)
}

/// A plain non-negative number.
pub fn number(cmd: &Cmd, v: &str) -> Result<u64> {
    v.parse::<u64>().map_err(|_| cmd.invalid_value(v, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("8k"), Some(8192));
        assert_eq!(parse_size("10M"), Some(10 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999g"), None);
    }

    #[test]
    fn times() {
        assert_eq!(parse_msec("68000ms"), Some(68000));
        assert_eq!(parse_msec("60"), Some(60_000));
        assert_eq!(parse_msec("1h 30m"), Some(5_400_000));
        assert_eq!(parse_msec("1h30m"), Some(5_400_000));
        assert_eq!(parse_msec("2d"), Some(172_800_000));
        assert_eq!(parse_msec("1x"), None);
        assert_eq!(parse_msec("ms"), None);
        assert_eq!(parse_msec(""), None);
    }
}
