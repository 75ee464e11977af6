//! nginx's auth_basic module: HTTP Basic authentication against an htpasswd file, read
//! on every request as nginx does (so edits take effect at once). Password forms:
//! `{PLAIN}`, `{SHA}`, `{SSHA}`, `$apr1$` and `$1$` (MD5-crypt); the other crypt(3)
//! forms (`$5$`, `$6$`, DES) are not checked (logged, refused).

use std::rc::Rc;
use std::sync::Arc;

use base64::Engine;
use conf::registry::{HTTP, LMT, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once};
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::builder::{HttpBuilder, LocDraft};
use crate::log::Level;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::{Request, credentials};
use crate::template::Template;

const CTX: conf::Ctx = HTTP | SRV | LOC | LMT;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("auth_basic", CTX, Args::Exactly(1), auth_basic),
    Directive::value("auth_basic_user_file", CTX, Args::Exactly(1), auth_basic_user_file),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_auth_basic_module", DIRECTIVES)
};

crate::settings! {
    pub struct AuthBasicConf {
        /// The realm (`None`: off).
        auth_basic: Option<Arc<str>> = None,
        auth_basic_user_file: Option<Template> = None,
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<AuthBasicConf>()
        && let Some(realm) = conf.auth_basic()
    {
        t.access.push(Rc::new(AuthBasicHandler {
            realm,
            file: conf.auth_basic_user_file(),
        }));
    }
    Ok(())
}

/// `auth_basic realm | off;`
fn auth_basic(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let realm = (v != "off").then(|| Arc::from(v));
    set_once(&mut b.loc().conf::<AuthBasicConf>().auth_basic, realm, cmd)
}

/// `auth_basic_user_file file;` (variables allowed; relative to the main configuration
/// file's directory)
fn auth_basic_user_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let file = b.template(cmd, cmd.arg(0))?;
    set_once(
        &mut b.loc().conf::<AuthBasicConf>().auth_basic_user_file,
        Some(file),
        cmd,
    )
}

/// The access-phase handler of a location with `auth_basic` (it lets every request through
/// until a user file is set).
struct AuthBasicHandler {
    realm: Arc<str>,
    file: Option<Template>,
}

impl Handler for AuthBasicHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        let Some(file) = &self.file else {
            return Step::Ready(Flow::Next);
        };
        let file = file.render(r);
        Step::Ready(check(r, &self.realm, &file))
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
