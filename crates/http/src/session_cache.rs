//! `ssl_session_cache shared:NAME:SIZE`: TLS sessions in a shared-memory zone, so a
//! client resumes with whichever worker it reaches (nginx's ngx_ssl_session_cache). The
//! zone is a `lua_shared_dict`'s kind (crates/shdict: made by the master, kept across
//! reloads, LRU when full); a session is kept under its id, in DER, for
//! `ssl_session_timeout`.

use std::rc::Rc;

use openssl::ssl::{SslContextBuilder, SslSession, SslSessionCacheMode};

/// A zone's address, for OpenSSL's callbacks (which must be Send + Sync).
#[derive(Clone, Copy)]
struct ZoneAt(usize);

impl ZoneAt {
    fn with<R>(self, f: impl FnOnce(&mut shdict::Dict) -> R) -> R {
        // SAFETY: the zone is mapped for as long as the configuration that made it (its
        // `Rc<Zone>` is kept with the server's context), and every process that runs
        // these callbacks inherited that mapping.
        let mut locked = unsafe { shdict::lock_at(self.0 as *mut u8) };
        f(&mut locked.dict)
    }
}

/// Maps (or finds again, on reload) the zone and makes the context keep its sessions
/// there; `builtin` keeps OpenSSL's own per-worker cache in front of it.
pub fn install(
    b: &mut SslContextBuilder,
    name: &str,
    size: usize,
    builtin: bool,
    timeout_s: u64,
) -> Result<Rc<shdict::Zone>, String> {
    // (a name of its own: a lua_shared_dict of the same name is another zone)
    let zone = shdict::open(&format!("ssl_session_cache:{name}"), size)
        .map_err(|e| format!("failed to map the shared memory zone \"{name}\": {e}"))?;
    let at = ZoneAt(zone.base() as usize);
    let mut mode = SslSessionCacheMode::SERVER;
    if !builtin {
        mode |= SslSessionCacheMode::NO_INTERNAL;
    }
    b.set_session_cache_mode(mode);
    let ttl_ms = timeout_s.saturating_mul(1000);
    b.set_new_session_callback(move |_, session| {
        let Ok(der) = session.to_der() else {
            return;
        };
        let now = shdict::now_ms();
        let exptime = now + ttl_ms;
        // (a full zone drops its least recently used sessions; nginx logs nothing either
        // when it must forget old sessions)
        let _ = at.with(|d| {
            d.store(
                shdict::StoreOp::default(),
                session.id(),
                shdict::Value::Str(&der),
                exptime,
                0,
                now,
            )
        });
    });
    b.set_remove_session_callback(move |_, session| {
        at.with(|d| {
            let _ = d.store(
                shdict::StoreOp::default(),
                session.id(),
                shdict::Value::Nil,
                0,
                0,
                shdict::now_ms(),
            );
        });
    });
    // SAFETY: the sessions handed back were made by this context's own new-session
    // callback (DER of a session it issued).
    unsafe {
        b.set_get_session_callback(move |_, id| {
            let mut der = Vec::new();
            let found = at.with(|d| d.get(id, false, shdict::now_ms(), &mut der));
            match found {
                Ok(Some(_)) => SslSession::from_der(&der).ok(),
                _ => None,
            }
        });
    }
    Ok(zone)
}
