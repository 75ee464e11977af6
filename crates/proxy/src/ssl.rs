//! `https://` upstreams: the `proxy_ssl_*` directives and the handshake of a new upstream
//! connection (SNI with `proxy_ssl_server_name`, verification with `proxy_ssl_verify`,
//! the last session of each server offered again with `proxy_ssl_session_reuse`), logged
//! in nginx's words. A kept connection is reused as it is, its TLS included.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use conf::{Cmd, Result, set_once};
use http::HttpBuilder;
use http::io::Stream;
use http::log::Level;
use http::request::Request;
use http::template::Template;
use http::tls::{self, ClientTls, PeerRefused};
use openssl::ssl::{SslContext, SslSession};

http::settings! {
    /// A location's `proxy_ssl_*` (inherited), nginx's defaults where none is given.
    pub struct ProxySsl {
        server_name: bool = false,
        /// `proxy_ssl_name` (None: `$proxy_host`).
        name: Option<Rc<Template>> = None,
        verify: bool = false,
        verify_depth: u32 = 1,
        trusted_certificate: String = String::new(),
        certificate: String = String::new(),
        certificate_key: String = String::new(),
        protocols: u8 = tls::TLSV1_2 | tls::TLSV1_3,
        ciphers: String = "DEFAULT".to_string(),
        session_reuse: bool = true,
        password_file: String = String::new(),
        crl: String = String::new(),
        conf_commands: Vec<(String, String)> = Vec::new(),
    }
}

/// Every `proxy_ssl_*` row's `apply`.
pub fn directive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let file = b.conf_file(v);
    let name = if cmd.name == "proxy_ssl_name" {
        Some(Rc::new(b.template(cmd, v)?))
    } else {
        None
    };
    let c = b.loc().conf::<ProxySsl>();
    let flag = || conf::value::flag(cmd, v);
    match cmd.name.as_str() {
        "proxy_ssl_server_name" => set_once(&mut c.server_name, flag()?, cmd),
        "proxy_ssl_name" => set_once(&mut c.name, name, cmd),
        "proxy_ssl_verify" => set_once(&mut c.verify, flag()?, cmd),
        "proxy_ssl_verify_depth" => set_once(&mut c.verify_depth, conf::value::number(cmd, v)? as u32, cmd),
        "proxy_ssl_trusted_certificate" => set_once(&mut c.trusted_certificate, file, cmd),
        "proxy_ssl_certificate" => set_once(&mut c.certificate, file, cmd),
        "proxy_ssl_certificate_key" => set_once(&mut c.certificate_key, file, cmd),
        "proxy_ssl_ciphers" => set_once(&mut c.ciphers, v.to_string(), cmd),
        "proxy_ssl_session_reuse" => set_once(&mut c.session_reuse, flag()?, cmd),
        "proxy_ssl_crl" => set_once(&mut c.crl, file, cmd),
        "proxy_ssl_password_file" => set_once(&mut c.password_file, file, cmd),
        "proxy_ssl_conf_command" => {
            let line = (v.to_string(), cmd.arg(1).to_string());
            c.conf_commands.get_or_insert_with(Vec::new).push(line);
            Ok(())
        }
        "proxy_ssl_protocols" => {
            let bits = tls::protocol_bits(cmd.values()).map_err(|m| cmd.error(m))?;
            set_once(&mut c.protocols, bits, cmd)
        }
        _ => Err(cmd.error(format!("\"{}\" is not supported yet", cmd.name))),
    }
}

/// What nginx refuses at start in a location's settings.
pub fn check(c: &ProxySsl) -> std::result::Result<(), String> {
    if c.verify() && c.trusted_certificate().is_empty() {
        return Err("no proxy_ssl_trusted_certificate for proxy_ssl_verify".into());
    }
    let client = client_tls(c);
    if client.names_files() {
        tls::build_client_context(&client)?;
    }
    Ok(())
}

/// The client context's settings of a location.
fn client_tls(c: &ProxySsl) -> ClientTls {
    ClientTls {
        trusted: c.trusted_certificate(),
        depth: c.verify_depth(),
        protocols: c.protocols(),
        ciphers: c.ciphers(),
        certificate: c.certificate(),
        key: c.certificate_key(),
        password_file: c.password_file(),
        crl: c.crl(),
        conf_commands: c.conf_commands(),
    }
}

/// What one request's tries to an https upstream handshake with.
pub struct UpstreamTls {
    ctx: SslContext,
    /// The name verified (and sent, with `proxy_ssl_server_name on`).
    name: String,
    send_name: bool,
    verify: bool,
    reuse: bool,
}

thread_local! {
    /// The last session of each server (by address, as nginx keeps it per peer), offered
    /// again.
    static SESSIONS: RefCell<HashMap<String, SslSession>> = RefCell::default();
}

impl UpstreamTls {
    /// The request's handshake settings; None (and the reason logged) when the context
    /// cannot be made.
    pub fn for_request(c: &ProxySsl, r: &Request, proxy_host: &str) -> Option<UpstreamTls> {
        let ctx = match tls::client_context(&client_tls(c)) {
            Ok(ctx) => ctx,
            Err(e) => {
                r.log(Level::Emerg, &e);
                return None;
            }
        };
        let name = match c.name() {
            Some(t) => t.render(r),
            // ($proxy_host without its port)
            None => crate::upstream::split_host_port(proxy_host)
                .map_or(proxy_host, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        };
        Some(UpstreamTls {
            ctx,
            name,
            send_name: c.server_name(),
            verify: c.verify(),
            reuse: c.session_reuse(),
        })
    }

    /// TLS over a new connection to `peer`: the handshake, then nginx's checks. Err: what
    /// failed, for the log line (the try failed, as a connect error).
    pub async fn handshake(
        &self,
        stream: Stream,
        peer: &str,
        timeout: Duration,
    ) -> std::result::Result<Stream, String> {
        let key = peer.to_string();
        let session = if self.reuse {
            SESSIONS.with(|s| s.borrow().get(&key).cloned())
        } else {
            None
        };
        let sni = self.send_name.then_some(self.name.as_str());
        let offer = tls::Offer {
            server_name: sni,
            session: session.as_deref(),
            certificate: None,
        };
        let t = match tls::connect(stream, &self.ctx, offer, timeout).await {
            Ok(t) => t,
            Err(f) if f.text == "timed out" => {
                return Err(crate::TIMED_OUT.into());
            }
            Err(f) => return Err(f.text),
        };
        if self.verify {
            match tls::verify_peer(&t, Some(&self.name)) {
                Ok(()) => {}
                Err(PeerRefused::Verify(code, text)) => {
                    return Err(format!("upstream SSL certificate verify error: ({code}:{text})"));
                }
                Err(PeerRefused::Host) => {
                    return Err(format!("upstream SSL certificate does not match \"{}\"", self.name));
                }
            }
        }
        if self.reuse
            && let Some(s) = t.with_ssl(|s| s.session().map(|x| x.to_owned()))
        {
            SESSIONS.with(|m| m.borrow_mut().insert(key, s));
        }
        Ok(Stream::Tls(Box::new(t)))
    }
}
