//! nginx's auth_basic module: HTTP Basic authentication against an htpasswd file, read
//! on every request as nginx does (so edits take effect at once). Password forms:
//! `{PLAIN}`, `{SHA}`, `{SSHA}`, `$apr1$` and `$1$` (MD5-crypt); the other crypt(3)
//! forms (`$5$`, `$6$`, DES) are not checked (logged, refused).

use base64::Engine;
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::log::Level;
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

/// The access-phase handler of a location with `auth_basic` (and a user file).
pub struct AuthBasicHandler;

impl Handler for AuthBasicHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        let settings = &r.loc.settings;
        let (Some(realm), Some(file)) = (settings.auth_basic(), settings.auth_basic_user_file()) else {
            return Step::Ready(Flow::Next);
        };
        let file = file.render(r);
        Step::Ready(check(r, &realm, &file))
    }
}

fn check(r: &mut Request, realm: &str, file: &str) -> Flow {
    let Some((user, password)) = credentials(r) else {
        r.log(Level::Info, "no user/password was provided for basic authentication");
        return unauthorized(r, realm);
    };
    // (relative to the main configuration file's directory, as nginx's)
    let path = r.http.conf_dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            r.log(
                Level::Error,
                &format!("open() \"{}\" failed ({})", path.display(), conf::errno_text(&e)),
            );
            return Flow::Finish(500);
        }
    };
    let entry = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.split_once(':').filter(|(u, _)| *u == user));
    let Some((_, rest)) = entry else {
        r.log(
            Level::Error,
            &format!("user \"{user}\" was not found in \"{}\"", path.display()),
        );
        return unauthorized(r, realm);
    };
    // (a third field is a comment)
    let hash = rest.split(':').next().unwrap_or("");
    match verify(&password, hash) {
        Some(true) => Flow::Granted,
        Some(false) => {
            r.log(Level::Error, &format!("user \"{user}\": password mismatch"));
            unauthorized(r, realm)
        }
        None => {
            r.log(
                Level::Error,
                &format!("user \"{user}\": password hash form not supported"),
            );
            unauthorized(r, realm)
        }
    }
}

fn unauthorized(r: &mut Request, realm: &str) -> Flow {
    let realm = realm.replace('\\', "\\\\").replace('"', "\\\"");
    r.headers_out
        .set("WWW-Authenticate", format!("Basic realm=\"{realm}\""));
    Flow::Finish(401)
}

/// The user and password of an `Authorization: Basic …` header.
pub(crate) fn credentials(r: &Request) -> Option<(String, String)> {
    let value = r.headers_in.get("authorization")?.trim_start();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Whether `password` matches `hash`; `None` for a hash form not handled.
fn verify(password: &str, hash: &str) -> Option<bool> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(plain) = hash.strip_prefix("{PLAIN}") {
        return Some(plain == password);
    }
    if let Some(sha) = hash.strip_prefix("{SHA}") {
        return Some(b64.encode(Sha1::digest(password.as_bytes())) == sha);
    }
    if let Some(ssha) = hash.strip_prefix("{SSHA}") {
        let raw = b64.decode(ssha).ok()?;
        if raw.len() <= 20 {
            return Some(false);
        }
        let (digest, salt) = raw.split_at(20);
        let mut h = Sha1::new();
        h.update(password.as_bytes());
        h.update(salt);
        return Some(h.finalize().as_slice() == digest);
    }
    for magic in ["$apr1$", "$1$"] {
        if let Some(rest) = hash.strip_prefix(magic) {
            let salt = rest.split('$').next().unwrap_or("");
            return Some(md5_crypt(password.as_bytes(), salt.as_bytes(), magic.as_bytes()) == hash);
        }
    }
    None
}

/// MD5-crypt (`$1$`, and Apache's `$apr1$`, which differs only in its magic).
fn md5_crypt(pw: &[u8], salt: &[u8], magic: &[u8]) -> String {
    let salt = &salt[..salt.len().min(8)];
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut ctx = Md5::new().chain_update(pw).chain_update(magic).chain_update(salt);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = pw.len();
    while i != 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        i >>= 1;
    }
    let mut f = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(pw);
        } else {
            c.update(f);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(pw);
        }
        if round & 1 == 1 {
            c.update(f);
        } else {
            c.update(pw);
        }
        f = c.finalize();
    }
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::new();
    out.push_str(&String::from_utf8_lossy(magic));
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut put = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put((u32::from(f[a]) << 16) | (u32::from(f[b]) << 8) | u32::from(f[c]), 4);
    }
    put(u32::from(f[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_htpasswd_forms() {
        // (the hashes made by `openssl passwd` for "password")
        assert_eq!(verify("password", "$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1"), Some(true));
        assert_eq!(verify("password", "$1$abcdefgh$G//4keteveJp0qb8z2DxG/"), Some(true));
        assert_eq!(verify("passw0rd", "$1$abcdefgh$G//4keteveJp0qb8z2DxG/"), Some(false));
        assert_eq!(verify("password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="), Some(true));
        assert_eq!(verify("password", "{PLAIN}password"), Some(true));
        assert_eq!(verify("password", "$6$salt$xyz"), None);
    }
}
