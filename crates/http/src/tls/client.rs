//! The client's side of TLS (cosockets, `https://` upstreams): contexts cached by their
//! settings, the handshake with SNI, a session offered again and a client certificate,
//! and nginx's checks of the peer after it (the chain, then the name).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext, SslMode, SslSessionRef, SslVerifyMode};

use super::{HandshakeFailure, TLSV1_2, TLSV1_3, TlsStream, error_text, handshake, protocol_options};
use crate::io::Stream;
use crate::log::Level;

/// What a client's handshake offers beyond its context's settings.
#[derive(Default)]
pub struct Offer<'a> {
    /// SNI.
    pub server_name: Option<&'a str>,
    /// A former session, for reuse.
    pub session: Option<&'a SslSessionRef>,
    /// A certificate chain and its key, instead of the context's (`setclientcert`).
    pub certificate: Option<(
        &'a [openssl::x509::X509],
        &'a openssl::pkey::PKeyRef<openssl::pkey::Private>,
    )>,
}

/// The client's side of a handshake (cosockets, https upstreams). Verification is left to
/// the caller (`verify_peer`), as nginx checks after the handshake.
pub async fn connect(
    sock: Stream,
    ctx: &SslContext,
    offer: Offer<'_>,
    timeout: Duration,
) -> Result<TlsStream, HandshakeFailure> {
    let fail = |e: ErrorStack| HandshakeFailure::new(Level::Error, format!("SSL_new() failed {}", error_text(&e)));
    let mut ssl = Ssl::new(ctx).map_err(fail)?;
    if let Some(name) = offer.server_name.filter(|n| !n.is_empty()) {
        ssl.set_hostname(name).map_err(fail)?;
    }
    if let Some(sess) = offer.session {
        // SAFETY: the session comes from a context of the same settings (the caller's
        // cache is keyed by them); OpenSSL refuses a session that does not fit.
        unsafe { ssl.set_session(sess).map_err(fail)? };
    }
    if let Some((chain, key)) = offer.certificate
        && let Some((leaf, rest)) = chain.split_first()
    {
        ssl.set_certificate(leaf).map_err(fail)?;
        for c in rest {
            ssl.add_chain_cert(c.clone()).map_err(fail)?;
        }
        ssl.set_private_key(key).map_err(fail)?;
    }
    let t = TlsStream::new(Rc::new(sock), ssl, usize::MAX)
        .map_err(|e| HandshakeFailure::new(Level::Error, e.to_string()))?;
    let step = || t.ssl.borrow_mut().connect();
    // (nginx's upstream connections log what a client would cause at error level)
    handshake(&t, step, || async {}, timeout, "timed out")
        .await
        .map_err(|mut f| {
            if f.level == Level::Info {
                f.level = Level::Error;
            }
            f
        })?;
    Ok(t)
}

/// What a client context is made of (`lua_ssl_*`, `proxy_ssl_*`); paths are absolute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientTls {
    pub trusted: String,
    pub depth: u32,
    pub protocols: u8,
    pub ciphers: String,
    pub certificate: String,
    pub key: String,
    /// The passwords of `key` (`proxy_ssl_password_file`).
    pub password_file: String,
    /// Revocation lists the peer's chain is checked against (`*_ssl_crl`).
    pub crl: String,
    /// OpenSSL configuration commands, applied last (`*_ssl_conf_command`).
    pub conf_commands: Vec<(String, String)>,
}

impl ClientTls {
    /// Whether making its context can fail on what the configuration names (files,
    /// commands): such settings are tried at start, so that they fail there.
    pub fn names_files(&self) -> bool {
        !(self.trusted.is_empty()
            && self.certificate.is_empty()
            && self.crl.is_empty()
            && self.conf_commands.is_empty())
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            trusted: String::new(),
            depth: 1,
            protocols: TLSV1_2 | TLSV1_3,
            ciphers: "DEFAULT".to_string(),
            certificate: String::new(),
            key: String::new(),
            password_file: String::new(),
            crl: String::new(),
            conf_commands: Vec::new(),
        }
    }
}

thread_local! {
    /// Client contexts by their settings, made on first use in each process (sessions
    /// offered for reuse come from the context of the same settings).
    static CLIENT_CONTEXTS: RefCell<std::collections::HashMap<ClientTls, SslContext>> = RefCell::default();
}

/// The client context for these settings, made once per process.
pub fn client_context(c: &ClientTls) -> Result<SslContext, String> {
    if let Some(ctx) = CLIENT_CONTEXTS.with(|m| m.borrow().get(c).cloned()) {
        return Ok(ctx);
    }
    let ctx = build_client_context(c)?;
    CLIENT_CONTEXTS.with(|m| m.borrow_mut().insert(c.clone(), ctx.clone()));
    Ok(ctx)
}

/// A new client context for these settings, its files read now: what a configuration
/// check uses (the master keeps nothing of it, so the workers of a reload read the files
/// as they are then).
pub fn build_client_context(c: &ClientTls) -> Result<SslContext, String> {
    let err = |what: &str, e: ErrorStack| format!("{what} failed {}", error_text(&e));
    let mut b = openssl::ssl::SslContextBuilder::new(openssl::ssl::SslMethod::tls_client())
        .map_err(|e| err("SSL_CTX_new()", e))?;
    b.set_mode(SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::RELEASE_BUFFERS);
    // (records are read as they come, several at once: fewer reads of the socket)
    b.set_read_ahead(true);
    b.set_options(protocol_options(c.protocols));
    b.set_cipher_list(&c.ciphers)
        .map_err(|e| err(&format!("SSL_CTX_set_cipher_list(\"{}\")", c.ciphers), e))?;
    b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::CLIENT);
    if !c.trusted.is_empty() {
        let pem = std::fs::read(&c.trusted).map_err(|e| {
            format!(
                "SSL_CTX_load_verify_locations(\"{}\") failed ({})",
                c.trusted,
                conf::os_reason(&e)
            )
        })?;
        for ca in openssl::x509::X509::stack_from_pem(&pem).map_err(|e| err("PEM_read_bio_X509()", e))? {
            b.cert_store_mut()
                .add_cert(ca)
                .map_err(|e| err("X509_STORE_add_cert()", e))?;
        }
    }
    if !c.crl.is_empty() {
        super::load_crl(&mut b, &c.crl)?;
    }
    // (verification is judged after the handshake, as nginx's callback that accepts all)
    b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    b.set_verify_depth(c.depth);
    if !c.certificate.is_empty() {
        b.set_certificate_chain_file(&c.certificate)
            .map_err(|e| format!("cannot load certificate \"{}\": {}", c.certificate, error_text(&e)))?;
        let passwords = match c.password_file.as_str() {
            "" => Vec::new(),
            file => super::read_password_file(file)?,
        };
        let pem = super::read_pem(&c.key, "certificate key")?;
        let key = super::key_from_pem(&c.key, &pem, &passwords)?;
        b.set_private_key(&key)
            .map_err(|e| format!("SSL_CTX_use_PrivateKey(\"{}\") failed {}", c.key, error_text(&e)))?;
    }
    super::conf_commands(&mut b, &c.conf_commands, false)?;
    Ok(b.build())
}

/// Why a server's certificate was not accepted.
pub enum PeerRefused {
    /// OpenSSL's verification result (its code and text).
    Verify(i32, String),
    /// The certificate does not name the host.
    Host,
}

/// nginx's checks of an upstream's (or a cosocket peer's) certificate after the
/// handshake: the chain's verification, then the name (`host`, when given).
pub fn verify_peer(t: &TlsStream, host: Option<&str>) -> Result<(), PeerRefused> {
    t.with_ssl(|ssl| {
        let v = ssl.verify_result();
        if v.as_raw() != 0 {
            return Err(PeerRefused::Verify(v.as_raw(), v.error_string().to_string()));
        }
        let Some(cert) = ssl.peer_certificate() else {
            return Err(PeerRefused::Verify(50, "application verification failure".to_string()));
        };
        match host {
            Some(h) if !names_host(&cert, h) => Err(PeerRefused::Host),
            _ => Ok(()),
        }
    })
}

/// Whether a certificate names `host`: its DNS names (a `*` for the leftmost label), or
/// its common name when it has none (as X509_check_host).
fn names_host(cert: &openssl::x509::X509Ref, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let matches = |pattern: &str| {
        let p = pattern.to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(rest) => host
                .split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
            None => p == host,
        }
    };
    if let Some(names) = cert.subject_alt_names() {
        let dns: Vec<&str> = names.iter().filter_map(|n| n.dnsname()).collect();
        if !dns.is_empty() {
            return dns.iter().any(|n| matches(n));
        }
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let octets = match ip {
                std::net::IpAddr::V4(a) => a.octets().to_vec(),
                std::net::IpAddr::V6(a) => a.octets().to_vec(),
            };
            if names.iter().any(|n| n.ipaddress() == Some(&octets[..])) {
                return true;
            }
        }
    }
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .filter_map(|e| e.data().to_string().ok())
        .any(|cn| matches(&cn))
}
