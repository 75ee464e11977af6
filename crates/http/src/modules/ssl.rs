//! nginx's ngx_http_ssl_module: the `ssl_*` directives (server-level, inherited from
//! http), each server's OpenSSL context (built with the configuration, in the master,
//! before workers fork: key files may be readable by root only, and every worker shares
//! the context's session-ticket keys), client-certificate checks per request, and the
//! `$ssl_*` variables. The stream and the handshakes are `crate::tls`.

use std::path::Path;
use std::rc::Rc;

use conf::registry::{HTTP, SRV};
use conf::{Args, Cmd, ConfError, Directive, Result, set_once, value};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslSessionCacheMode, SslVerifyMode};
use openssl::x509::X509;

use crate::builder::{HttpBuilder, LocDraft, conf_file};
use crate::io::Stream;
use crate::log::Level;
use crate::module::{Module, Variable};
use crate::request::Request;
use crate::template::Template;
use crate::tls::{self, error_text};

const CTX: conf::Ctx = HTTP | SRV;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("ssl", CTX, Args::Flag, ssl_on),
    Directive::value("ssl_certificate", CTX, Args::Exactly(1), certificate),
    Directive::value("ssl_certificate_key", CTX, Args::Exactly(1), certificate_key),
    Directive::value("ssl_password_file", CTX, Args::Exactly(1), password_file),
    Directive::value("ssl_protocols", CTX, Args::AtLeast(1), protocols),
    Directive::value("ssl_ciphers", CTX, Args::Exactly(1), ciphers),
    Directive::value("ssl_prefer_server_ciphers", CTX, Args::Flag, prefer_server_ciphers),
    Directive::value("ssl_ecdh_curve", CTX, Args::Exactly(1), ecdh_curve),
    Directive::value("ssl_dhparam", CTX, Args::Exactly(1), dhparam),
    Directive::value("ssl_session_cache", CTX, Args::Range(1, 2), session_cache),
    Directive::value("ssl_session_timeout", CTX, Args::Exactly(1), session_timeout),
    Directive::value("ssl_session_tickets", CTX, Args::Flag, session_tickets),
    Directive::value("ssl_session_ticket_key", CTX, Args::Exactly(1), session_ticket_key),
    Directive::value("ssl_verify_client", CTX, Args::Exactly(1), verify_client),
    Directive::value("ssl_verify_depth", CTX, Args::Exactly(1), verify_depth),
    Directive::value("ssl_client_certificate", CTX, Args::Exactly(1), client_certificate),
    Directive::value("ssl_trusted_certificate", CTX, Args::Exactly(1), trusted_certificate),
    Directive::value("ssl_buffer_size", CTX, Args::Exactly(1), buffer_size),
    Directive::value("ssl_early_data", CTX, Args::Flag, early_data),
    Directive::value("ssl_reject_handshake", CTX, Args::Flag, reject_handshake),
    Directive::value("ssl_stapling", CTX, Args::Flag, stapling),
    Directive::value("ssl_stapling_file", CTX, Args::Exactly(1), stapling_file),
    Directive::value("ssl_stapling_verify", CTX, Args::Flag, accepted_flag),
    Directive::value("ssl_stapling_responder", CTX, Args::Exactly(1), accepted_value),
    Directive::value("ssl_crl", CTX, Args::Exactly(1), crl),
    Directive::value("ssl_conf_command", CTX, Args::Exactly(2), conf_command),
    // nginx's, not here yet: refused in those words rather than as unknown
    Directive::value("ssl_ocsp", CTX, Args::Exactly(1), not_yet),
    Directive::value("ssl_ocsp_responder", CTX, Args::Exactly(1), not_yet),
    Directive::value("ssl_ocsp_cache", CTX, Args::Exactly(1), not_yet),
];

pub static MODULE: Module = Module {
    variables: VARIABLES,
    ..Module::new("ngx_http_ssl_module", DIRECTIVES)
};

crate::settings! {
    pub struct SslConf {
        /// `ssl on` (the old way to make every listen of a server ssl).
        enable: bool = false,
        certificates: Vec<String> = Vec::new(),
        certificate_keys: Vec<String> = Vec::new(),
        password_file: String = String::new(),
        // (current nginx's default: TLSv1.2 TLSv1.3)
        protocols: u8 = tls::TLSV1_2 | tls::TLSV1_3,
        ciphers: String = "HIGH:!aNULL:!MD5".to_string(),
        prefer_server_ciphers: bool = false,
        ecdh_curve: String = "auto".to_string(),
        dhparam: String = String::new(),
        session_cache: SessionCache = SessionCache::None,
        session_timeout_s: u64 = 300,
        session_tickets: bool = true,
        /// `ssl_session_ticket_key` files' bytes (80 or 48), the first the one that
        /// encrypts.
        session_ticket_keys: Vec<Vec<u8>> = Vec::new(),
        verify_client: VerifyClient = VerifyClient::Off,
        verify_depth: u32 = 1,
        client_certificate: String = String::new(),
        trusted_certificate: String = String::new(),
        crl: String = String::new(),
        conf_commands: Vec<(String, String)> = Vec::new(),
        buffer_size: usize = 16384,
        early_data: bool = false,
        reject_handshake: bool = false,
        stapling: bool = false,
        stapling_file: String = String::new(),
        // the handshake's hooks (the Lua module sets them: `ssl_client_hello_by_lua*`,
        // `ssl_certificate_by_lua*`, `ssl_session_fetch_by_lua*`, `ssl_session_store_by_lua*`)
        client_hello_hook: Option<Rc<dyn tls::HandshakeHook>> = None,
        certificate_hook: Option<Rc<dyn tls::HandshakeHook>> = None,
        session_fetch_hook: Option<Rc<dyn tls::HandshakeHook>> = None,
        session_store_hook: Option<Rc<dyn tls::HandshakeHook>> = None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyClient {
    Off,
    On,
    Optional,
    OptionalNoCa,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCache {
    Off,
    None,
    /// OpenSSL's cache in each worker (`builtin[:size]`, None: not asked for; its size:
    /// OpenSSL's default when None inside) and, with `shared:NAME:SIZE`, the zone.
    Caches {
        builtin: Option<Option<u64>>,
        shared: Option<(String, usize)>,
    },
}

fn conf(b: &mut HttpBuilder) -> &mut SslConf {
    b.loc().conf::<SslConf>()
}

fn ssl_on(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    crate::elog!(
        Level::Warn,
        0,
        "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead in {}",
        cmd.at
    );
    set_once(&mut conf(b).enable, on, cmd)
}

fn certificate(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    // (compiled now for the check of unknown variables; the text is kept)
    b.template(cmd, cmd.arg(0))?;
    conf(b)
        .certificates
        .get_or_insert_with(Vec::new)
        .push(cmd.arg(0).to_string());
    Ok(())
}

fn certificate_key(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    b.template(cmd, cmd.arg(0))?;
    conf(b)
        .certificate_keys
        .get_or_insert_with(Vec::new)
        .push(cmd.arg(0).to_string());
    Ok(())
}

/// `ssl_certificate` / `_key` naming variables: evaluated and loaded in each handshake
/// (as nginx does since 1.15.9), on a bare request of the server block the handshake
/// stands in; files that cannot be loaded fail that handshake, logged as nginx.
/// Beyond nginx: a path naming `$ssl_server_name` is refused when the client's name is
/// no valid host (nginx would put a name like `../x` in the path).
struct NamedCertificates {
    pairs: Vec<(Template, Template)>,
    conf_dir: std::path::PathBuf,
    password: Vec<String>,
}

impl tls::HandshakeHook for NamedCertificates {
    fn run(&self, facts: tls::HandshakeFacts) -> tls::HookRun {
        let paths = facts
            .with_bare_request(|r| self.paths(r))
            .unwrap_or_else(|| Err("cannot load certificate: no request to evaluate its variables".to_string()));
        let loaded = paths.and_then(|paths| {
            let mut result = Ok(());
            tls::with_hook_session(&facts, |ssl| {
                result = paths.iter().try_for_each(|(cert, key)| self.load(ssl, cert, key));
                result.is_ok()
            });
            result
        });
        if let Err(text) = &loaded {
            crate::elog!(
                Level::Error,
                facts.conn,
                "{text} while SSL handshaking{}",
                facts.log_suffix()
            );
        }
        Box::pin(std::future::ready(loaded.is_ok()))
    }
}

impl NamedCertificates {
    /// The paths of this handshake: each pair's variables evaluated.
    fn paths(&self, r: &Request) -> std::result::Result<Vec<(String, String)>, String> {
        let names_server = |t: &Template| t.variables().any(|v| v == "ssl_server_name");
        if self.pairs.iter().any(|(c, k)| names_server(c) || names_server(k)) {
            let name = crate::variables::get(r, "ssl_server_name").unwrap_or_default();
            if crate::h1::validate_host(&name).is_none() {
                return Err("cannot load certificate: no valid server name for \"$ssl_server_name\"".to_string());
            }
        }
        Ok(self.pairs.iter().map(|(c, k)| (c.render(r), k.render(r))).collect())
    }

    fn load(&self, ssl: &mut openssl::ssl::SslRef, cert: &str, key: &str) -> std::result::Result<(), String> {
        let pair = load_pair(&self.conf_dir, cert, key, &self.password)?;
        let mut chain = pair.chain.into_iter();
        let leaf = chain.next().expect("non-empty");
        ssl.set_certificate(&leaf)
            .map_err(|e| format!("SSL_use_certificate(\"{cert}\") failed {}", error_text(&e)))?;
        for c in chain {
            ssl.add_chain_cert(c)
                .map_err(|e| format!("SSL_add0_chain_cert(\"{cert}\") failed {}", error_text(&e)))?;
        }
        ssl.set_private_key(&pair.key)
            .map_err(|e| format!("SSL_use_PrivateKey(\"{key}\") failed {}", error_text(&e)))
    }
}

/// A certificate directive's chain (and its PEM) with its key, read as nginx reads them
/// (files or `data:`), or nginx's words for why not.
struct Pair {
    pem: Vec<u8>,
    chain: Vec<X509>,
    key: PKey<Private>,
}

fn load_pair(conf_dir: &Path, cert: &str, key: &str, passwords: &[String]) -> std::result::Result<Pair, String> {
    let pem = pem_of(conf_dir, cert, "certificate")?;
    let chain = X509::stack_from_pem(&pem).ok().filter(|c| !c.is_empty()).ok_or_else(|| {
        format!(
            "cannot load certificate \"{}\": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)",
            conf_file(conf_dir, cert)
        )
    })?;
    let key_pem = pem_of(conf_dir, key, "certificate key")?;
    let key = tls::key_from_pem(&conf_file(conf_dir, key), &key_pem, passwords)?;
    Ok(Pair { pem, chain, key })
}

fn password_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).password_file, cmd.arg(0).to_string(), cmd)
}

fn protocols(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let bits = tls::protocol_bits(cmd.values()).map_err(|m| cmd.error(m))?;
    set_once(&mut conf(b).protocols, bits, cmd)
}

fn ciphers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).ciphers, cmd.arg(0).to_string(), cmd)
}

fn prefer_server_ciphers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).prefer_server_ciphers, on, cmd)
}

fn ecdh_curve(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).ecdh_curve, cmd.arg(0).to_string(), cmd)
}

fn dhparam(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).dhparam, cmd.arg(0).to_string(), cmd)
}

fn session_cache(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let invalid = |word: &str| cmd.error(format!("invalid session cache \"{word}\""));
    // (as nginx: off, none and builtin each set the built-in cache, the last one wins)
    let (mut builtin, mut shared) = (None, None);
    for word in cmd.values() {
        match word {
            "off" => builtin = Some(SessionCache::Off),
            "none" => builtin = Some(SessionCache::None),
            "builtin" => {
                builtin = Some(SessionCache::Caches {
                    builtin: Some(None),
                    shared: None,
                })
            }
            _ if word.starts_with("builtin:") => {
                let n = word[8..]
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid(word))?;
                builtin = Some(SessionCache::Caches {
                    builtin: Some(Some(n)),
                    shared: None,
                });
            }
            _ if word.starts_with("shared:") => {
                let (name, size) = word[7..].rsplit_once(':').ok_or_else(|| invalid(word))?;
                let size = value::parse_size(size)
                    .filter(|_| !name.is_empty())
                    .ok_or_else(|| invalid(word))?;
                // (nginx's smallest zone: 8 pages)
                if size < 8 * 4096 {
                    return Err(cmd.error(format!("session cache \"{word}\" is too small")));
                }
                shared = Some((name.to_string(), size as usize));
            }
            _ => return Err(invalid(word)),
        }
    }
    let cache = match builtin {
        Some(SessionCache::Caches { builtin, .. }) => SessionCache::Caches { builtin, shared },
        Some(off_or_none) => off_or_none,
        None => SessionCache::Caches { builtin: None, shared },
    };
    set_once(&mut conf(b).session_cache, cache, cmd)
}

fn session_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let s = value::sec(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).session_timeout_s, s, cmd)
}

fn session_tickets(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).session_tickets, on, cmd)
}

fn session_ticket_key(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let path = b.conf_file(cmd.arg(0));
    let key =
        std::fs::read(&path).map_err(|e| cmd.error(format!("open() \"{path}\" failed ({})", conf::errno_text(&e))))?;
    if key.len() != 80 && key.len() != 48 {
        return Err(cmd.error(format!("\"{path}\" must be 80 or 48 bytes")));
    }
    conf(b).session_ticket_keys.get_or_insert_with(Vec::new).push(key);
    Ok(())
}

fn verify_client(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = match cmd.arg(0) {
        "off" => VerifyClient::Off,
        "on" => VerifyClient::On,
        "optional" => VerifyClient::Optional,
        "optional_no_ca" => VerifyClient::OptionalNoCa,
        other => {
            return Err(cmd.error(format!(
                "invalid value \"{other}\" in \"ssl_verify_client\" directive, it must be \"on\", \"off\", \"optional\" or \"optional_no_ca\""
            )));
        }
    };
    set_once(&mut conf(b).verify_client, v, cmd)
}

fn verify_depth(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = value::number(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).verify_depth, n as u32, cmd)
}

fn client_certificate(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).client_certificate, cmd.arg(0).to_string(), cmd)
}

fn trusted_certificate(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).trusted_certificate, cmd.arg(0).to_string(), cmd)
}

fn crl(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).crl, cmd.arg(0).to_string(), cmd)
}

fn conf_command(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let line = (cmd.arg(0).to_string(), cmd.arg(1).to_string());
    conf(b).conf_commands.get_or_insert_with(Vec::new).push(line);
    Ok(())
}

fn buffer_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = value::size(cmd, cmd.arg(0))? as usize;
    set_once(&mut conf(b).buffer_size, n, cmd)
}

fn early_data(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).early_data, on, cmd)
}

fn reject_handshake(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).reject_handshake, on, cmd)
}

fn stapling(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).stapling, on, cmd)
}

fn stapling_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut conf(b).stapling_file, cmd.arg(0).to_string(), cmd)
}

/// Directives taken as they are: what they tune does not apply without a responder
/// (`ssl_stapling_verify`, `ssl_stapling_responder`; docs/compat.md).
fn accepted_flag(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    value::flag(cmd, cmd.arg(0)).map(drop)
}

fn accepted_value(_b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    Ok(())
}

fn not_yet(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    Err(cmd.error(format!("\"{}\" is not supported yet", cmd.name)))
}

/// A server's TLS: its context (None without certificates: the address's default
/// server's context serves its SNI name) and what requests check.
pub struct ServerTls {
    pub context: Option<SslContext>,
    pub verify_client: VerifyClient,
    pub buffer_size: usize,
    /// `ssl on`: every listen of this server is ssl.
    pub ssl_on: bool,
    pub hooks: tls::Hooks,
    /// Keeps `ssl_session_cache shared:`'s zone mapped as long as the context uses it.
    _session_zone: Option<Rc<shdict::Zone>>,
}

impl ServerTls {
    /// Its context and hook, for a handshake (None: no context).
    pub fn picked(&self) -> Option<tls::Picked> {
        Some(tls::Picked {
            context: self.context.clone()?,
            hooks: self.hooks.clone(),
        })
    }
}

/// The TLS of a merged server level (a context when it has certificates), or None when the
/// ssl module left nothing there.
pub fn server_tls(level: &LocDraft, conf_dir: &Path) -> Result<Option<Rc<ServerTls>>> {
    let Some(c) = level.ext.get::<SslConf>() else {
        return Ok(None);
    };
    // (certificates may all come from the hook, as with ssl_certificate_by_lua)
    let (context, session_zone) =
        if c.certificates().is_empty() && !c.reject_handshake() && c.certificate_hook().is_none() {
            (None, None)
        } else {
            let (ctx, zone) = build_context(c, conf_dir).map_err(ConfError::Other)?;
            (Some(ctx), zone)
        };
    Ok(Some(Rc::new(ServerTls {
        context,
        verify_client: c.verify_client(),
        buffer_size: c.buffer_size(),
        ssl_on: c.enable(),
        hooks: tls::Hooks {
            client_hello: c.client_hello_hook(),
            certificate: match (named_certificates(c, conf_dir), c.certificate_hook()) {
                (Some(named), Some(lua)) => Some(Rc::new(tls::BothHooks(named, lua))),
                (named, lua) => named.or(lua),
            },
            session_fetch: c.session_fetch_hook(),
            session_store: c.session_store_hook(),
        },
        _session_zone: session_zone,
    })))
}

/// Every ssl address needs a certificate in its default server (nginx's
/// ngx_http_ssl_init), or a way to refuse handshakes.
pub fn check_listens(conf: &crate::config::HttpConf) -> Result<()> {
    for g in crate::worker::listen_groups(conf) {
        if !g.ssl {
            continue;
        }
        let s = &g.servers[g.default.min(g.servers.len() - 1)];
        if s.tls.as_ref().is_some_and(|t| t.context.is_some()) {
            continue;
        }
        let at = s.at.as_ref().map(|a| format!(" in {a}")).unwrap_or_default();
        return Err(ConfError::Other(format!(
            "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive{at}"
        )));
    }
    Ok(())
}

/// PEM text of a certificate or key directive: a file, or `data:` followed by the PEM.
fn pem_of(conf_dir: &Path, v: &str, what: &str) -> std::result::Result<Vec<u8>, String> {
    if let Some(d) = v.strip_prefix("data:") {
        return Ok(d.as_bytes().to_vec());
    }
    tls::read_pem(&conf_file(conf_dir, v), what)
}

/// One server's context, and the shared session cache's zone it uses (kept mapped with it).
type Built = (SslContext, Option<Rc<shdict::Zone>>);

/// One server's context, as nginx's ngx_http_ssl_merge_srv_conf makes it.
fn build_context(c: &SslConf, conf_dir: &Path) -> std::result::Result<Built, String> {
    let mut zone = None;
    let ssl_err = |what: &str, e: openssl::error::ErrorStack| format!("{what} failed {}", error_text(&e));
    let mut b = SslContextBuilder::new(SslMethod::tls_server()).map_err(|e| ssl_err("SSL_CTX_new()", e))?;
    b.set_mode(SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::RELEASE_BUFFERS);
    // (records are read as they come, several at once: fewer reads of the socket)
    b.set_read_ahead(true);
    let mut options = tls::protocol_options(c.protocols()) | SslOptions::NO_RENEGOTIATION;
    if c.prefer_server_ciphers() {
        options |= SslOptions::CIPHER_SERVER_PREFERENCE;
    }
    if !c.session_tickets() {
        options |= SslOptions::NO_TICKET;
    }
    b.set_options(options);
    // (as nginx: no upper or lower bound beyond the protocols named)
    b.set_min_proto_version(None)
        .map_err(|e| ssl_err("SSL_CTX_set_min_proto_version()", e))?;
    let ciphers = c.ciphers();
    b.set_cipher_list(&ciphers)
        .map_err(|e| ssl_err(&format!("SSL_CTX_set_cipher_list(\"{ciphers}\")"), e))?;
    let curve = c.ecdh_curve();
    if curve != "auto" {
        b.set_groups_list(&curve)
            .map_err(|e| ssl_err(&format!("SSL_CTX_set1_curves_list(\"{curve}\")"), e))?;
    }
    let dh = c.dhparam();
    if !dh.is_empty() {
        let path = conf_file(conf_dir, &dh);
        let pem = std::fs::read(&path).map_err(|e| {
            format!(
                "BIO_new_file(\"{path}\") failed (SSL: error:80000002:system library::{})",
                conf::os_reason(&e)
            )
        })?;
        let params = openssl::dh::Dh::params_from_pem(&pem)
            .map_err(|e| ssl_err(&format!("PEM_read_bio_DHparams(\"{path}\")"), e))?;
        b.set_tmp_dh(&params).map_err(|e| ssl_err("SSL_CTX_set_tmp_dh()", e))?;
    }
    let password = read_passwords(c, conf_dir)?;
    let (certs, keys) = (c.certificates(), c.certificate_keys());
    if certs.len() > keys.len() {
        return Err(format!(
            "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
            certs[keys.len()]
        ));
    }
    // (the session id context ties cached sessions to this server's certificates)
    let mut sid = openssl::sha::Sha1::new();
    // (those naming variables are loaded per handshake: NamedCertificates)
    for (cert, key) in certs
        .iter()
        .zip(keys.iter())
        .filter(|(c, k)| !c.contains('$') && !k.contains('$'))
    {
        let pair = load_pair(conf_dir, cert, key, &password)?;
        sid.update(&pair.pem);
        let mut chain = pair.chain.into_iter();
        let leaf = chain.next().expect("non-empty");
        b.set_certificate(&leaf)
            .map_err(|e| ssl_err(&format!("SSL_CTX_use_certificate(\"{cert}\")"), e))?;
        for extra in chain {
            add_chain_cert(&mut b, extra).map_err(|e| ssl_err(&format!("SSL_CTX_add0_chain_cert(\"{cert}\")"), e))?;
        }
        b.set_private_key(&pair.key)
            .map_err(|e| ssl_err(&format!("SSL_CTX_use_PrivateKey(\"{key}\")"), e))?;
        b.check_private_key()
            .map_err(|e| ssl_err(&format!("SSL_CTX_use_PrivateKey(\"{key}\")"), e))?;
    }
    b.set_session_id_context(&sid.finish()[..16])
        .map_err(|e| ssl_err("SSL_CTX_set_session_id_context()", e))?;
    match c.session_cache() {
        SessionCache::Off => {
            b.set_session_cache_mode(SslSessionCacheMode::OFF);
        }
        SessionCache::None => {
            // (nginx's "none": clients are told sessions may be reused, none is kept)
            b.set_session_cache_mode(SslSessionCacheMode::SERVER);
            b.set_session_cache_size(1);
        }
        SessionCache::Caches { builtin, shared } => {
            b.set_session_cache_mode(SslSessionCacheMode::SERVER);
            if let Some(Some(n)) = builtin {
                b.set_session_cache_size(n.min(i32::MAX as u64) as i32);
            }
            if let Some((name, size)) = shared {
                zone = Some(crate::session_cache::install(
                    &mut b,
                    &name,
                    size,
                    builtin.is_some(),
                    c.session_timeout_s(),
                )?);
            }
        }
    }
    set_timeout(&mut b, c.session_timeout_s());
    let ticket_keys = c.session_ticket_keys();
    if !ticket_keys.is_empty() {
        crate::ticket_keys::install(&mut b, &ticket_keys)?;
    }
    let verify = c.verify_client();
    if verify != VerifyClient::Off {
        let ca = c.client_certificate();
        let trusted = c.trusted_certificate();
        if ca.is_empty() && trusted.is_empty() && verify != VerifyClient::OptionalNoCa {
            return Err("no ssl_client_certificate for ssl_verify_client".to_string());
        }
        for (file, send_names) in [(ca, true), (trusted, false)] {
            if file.is_empty() {
                continue;
            }
            let pem = pem_of(conf_dir, &file, "certificate")?;
            let list = X509::stack_from_pem(&pem).map_err(|e| {
                format!(
                    "SSL_CTX_load_verify_locations(\"{}\") failed {}",
                    conf_file(conf_dir, &file),
                    error_text(&e)
                )
            })?;
            for ca in list {
                if send_names {
                    b.add_client_ca(&ca)
                        .map_err(|e| ssl_err("SSL_CTX_add_client_CA()", e))?;
                }
                b.cert_store_mut()
                    .add_cert(ca)
                    .map_err(|e| ssl_err("X509_STORE_add_cert()", e))?;
            }
        }
        // (the result is judged per request: 495 / 496, as nginx's callback that accepts all)
        b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        b.set_verify_depth(c.verify_depth());
    }
    let crl = c.crl();
    if !crl.is_empty() {
        tls::load_crl(&mut b, &conf_file(conf_dir, &crl))?;
    }
    if c.stapling() {
        let file = c.stapling_file();
        if !file.is_empty() {
            let path = conf_file(conf_dir, &file);
            let der = std::fs::read(&path).map_err(|e| {
                format!(
                    "BIO_new_file(\"{path}\") failed (SSL: error:80000002:system library::{})",
                    conf::os_reason(&e)
                )
            })?;
            b.set_status_callback(move |ssl| {
                ssl.set_ocsp_status(&der)?;
                Ok(true)
            })
            .map_err(|e| ssl_err("SSL_CTX_set_tlsext_status_cb()", e))?;
        }
    }
    tls::install_hook_callbacks(&mut b);
    let fetch = c.session_fetch_hook().is_some();
    tls::install_session_hooks(&mut b, fetch, c.session_store_hook().is_some());
    if fetch && c.session_cache() != SessionCache::Off {
        // (sessions come from the fetch hook, not OpenSSL's own cache)
        b.set_session_cache_mode(SslSessionCacheMode::SERVER | SslSessionCacheMode::NO_INTERNAL);
    }
    let reject = c.reject_handshake();
    b.set_servername_callback(move |ssl, alert| {
        crate::tls::on_server_name(ssl);
        if reject && ssl.ssl_context().certificate().is_none() {
            *alert = openssl::ssl::SslAlert::UNRECOGNIZED_NAME;
            return Err(openssl::ssl::SniError::ALERT_FATAL);
        }
        Ok(())
    });
    // (last, as nginx: OpenSSL's own commands may override any of the above)
    tls::conf_commands(&mut b, &c.conf_commands(), true)?;
    Ok((b.build(), zone))
}

/// `ssl_password_file`'s passwords, one a line.
fn read_passwords(c: &SslConf, conf_dir: &Path) -> std::result::Result<Vec<String>, String> {
    let p = c.password_file();
    if p.is_empty() {
        return Ok(Vec::new());
    }
    tls::read_password_file(&conf_file(conf_dir, &p))
}

/// The hook that loads a server's certificates naming variables, if it has any.
fn named_certificates(c: &SslConf, conf_dir: &Path) -> Option<Rc<dyn tls::HandshakeHook>> {
    let pairs: Vec<(Template, Template)> = c
        .certificates()
        .into_iter()
        .zip(c.certificate_keys())
        .filter(|(cert, key)| cert.contains('$') || key.contains('$'))
        .filter_map(|(cert, key)| Some((Template::parse(&cert).ok()?, Template::parse(&key).ok()?)))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    Some(Rc::new(NamedCertificates {
        pairs,
        conf_dir: conf_dir.to_path_buf(),
        password: read_passwords(c, conf_dir).unwrap_or_default(),
    }))
}

/// A chain certificate for the certificate just set (each of several certificates keeps
/// its own chain, as nginx's SSL_CTX_add0_chain_cert).
fn add_chain_cert(b: &mut SslContextBuilder, cert: X509) -> std::result::Result<(), openssl::error::ErrorStack> {
    use foreign_types::ForeignType;
    // SAFETY: the context is ours; SSL_CTRL_CHAIN_CERT with larg 0 takes ownership of the
    // certificate on success (add0), so it is released from Rust only then.
    let r = unsafe { openssl_sys::SSL_CTX_ctrl(b.as_ptr(), openssl_sys::SSL_CTRL_CHAIN_CERT, 0, cert.as_ptr().cast()) };
    if r == 1 {
        std::mem::forget(cert);
        Ok(())
    } else {
        Err(openssl::error::ErrorStack::get())
    }
}

fn set_timeout(b: &mut SslContextBuilder, secs: u64) {
    // SAFETY: the context is ours; SSL_CTX_set_timeout only stores the value.
    unsafe { SSL_CTX_set_timeout(b.as_ptr(), secs.min(i64::MAX as u64) as std::ffi::c_long) };
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_CTX_set_timeout(ctx: *mut openssl_sys::SSL_CTX, t: std::ffi::c_long) -> std::ffi::c_long;
}

/// What nginx checks of a client certificate before running a request on an ssl
/// connection (ngx_http_process_request): the code to answer with, and the info line.
pub fn client_check(r: &Request) -> Option<(u16, String)> {
    let tls = r.server.tls.as_ref()?;
    if tls.verify_client == VerifyClient::Off {
        return None;
    }
    let Stream::Tls(t) = &*r.io.stream else {
        return None;
    };
    t.with_ssl(|ssl| {
        let result = ssl.verify_result();
        let raw = result.as_raw();
        if raw != 0 && !(tls.verify_client == VerifyClient::OptionalNoCa && optional_error(raw)) {
            return Some((
                495,
                format!("client SSL certificate verify error: ({raw}:{})", result.error_string()),
            ));
        }
        if tls.verify_client == VerifyClient::On && ssl.peer_certificate().is_none() {
            return Some((496, "client sent no required SSL certificate".to_string()));
        }
        None
    })
}

/// Verify errors `optional_no_ca` lets through (nginx's ngx_ssl_verify_error_optional).
fn optional_error(code: i32) -> bool {
    const DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
    const SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
    const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
    const UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
    const UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
    matches!(
        code,
        DEPTH_ZERO_SELF_SIGNED_CERT
            | SELF_SIGNED_CERT_IN_CHAIN
            | UNABLE_TO_GET_ISSUER_CERT_LOCALLY
            | UNABLE_TO_VERIFY_LEAF_SIGNATURE
            | UNABLE_TO_GET_ISSUER_CERT
    )
}

// ---- variables ----

/// A `$ssl_*` variable: `get` reads the connection's session.
macro_rules! ssl_var {
    ($name:literal, $get:expr) => {
        Variable {
            name: $name,
            get: |r| with_session(r, $get),
            set: None,
        }
    };
}

static VARIABLES: &[Variable] = &[
    ssl_var!("ssl_protocol", |s| Some(s.version_str().to_string())),
    ssl_var!("ssl_cipher", |s| s.current_cipher().map(|c| c.name().to_string())),
    ssl_var!("ssl_server_name", |s| {
        s.servername(openssl::ssl::NameType::HOST_NAME).map(str::to_string)
    }),
    ssl_var!("ssl_session_reused", |s| Some(
        if s.session_reused() { "r" } else { "." }.to_string()
    )),
    ssl_var!("ssl_session_id", |s| s.session().map(|x| hex_upper(x.id()))),
    ssl_var!("ssl_alpn_protocol", |s| {
        Some(
            s.selected_alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
        )
    }),
    ssl_var!("ssl_early_data", |_| Some(String::new())),
    ssl_var!("ssl_client_verify", client_verify),
    ssl_var!("ssl_client_s_dn", |s| s
        .peer_certificate()
        .map(|c| rfc2253(c.subject_name()))),
    ssl_var!("ssl_client_i_dn", |s| s
        .peer_certificate()
        .map(|c| rfc2253(c.issuer_name()))),
    ssl_var!("ssl_client_raw_cert", |s| s
        .peer_certificate()
        .and_then(|c| c.to_pem().ok())
        .map(|p| String::from_utf8_lossy(&p).into_owned())),
    ssl_var!("ssl_client_cert", |s| {
        // (the deprecated form: every line after the first starts with a tab)
        let pem = s.peer_certificate()?.to_pem().ok()?;
        let text = String::from_utf8_lossy(&pem);
        Some(text.trim_end_matches('\n').replace('\n', "\n\t"))
    }),
    ssl_var!("ssl_client_serial", |s| {
        let c = s.peer_certificate()?;
        let bn = c.serial_number().to_bn().ok()?;
        Some(bn.to_hex_str().ok()?.to_string())
    }),
    ssl_var!("ssl_client_fingerprint", |s| {
        let c = s.peer_certificate()?;
        let d = c.digest(openssl::hash::MessageDigest::sha1()).ok()?;
        Some(d.iter().map(|b| format!("{b:02x}")).collect())
    }),
    ssl_var!("ssl_client_v_start", |s| s
        .peer_certificate()
        .map(|c| c.not_before().to_string())),
    ssl_var!("ssl_client_v_end", |s| s
        .peer_certificate()
        .map(|c| c.not_after().to_string())),
    ssl_var!("ssl_client_v_remain", |s| {
        let c = s.peer_certificate()?;
        let now = openssl::asn1::Asn1Time::days_from_now(0).ok()?;
        let d = now.diff(c.not_after()).ok()?;
        Some(d.days.max(0).to_string())
    }),
];

/// Reads the connection's session; a `$ssl_*` variable is not found on a plain one.
fn with_session(r: &Request, f: impl FnOnce(&openssl::ssl::SslRef) -> Option<String>) -> Option<String> {
    match &*r.io.stream {
        Stream::Tls(t) => t.with_ssl(f),
        // (a handshake's bare request: the session being negotiated)
        _ => r.ctx_ref::<tls::HandshakeSession>()?.with(f),
    }
}

fn client_verify(s: &openssl::ssl::SslRef) -> Option<String> {
    if s.peer_certificate().is_none() {
        return Some("NONE".into());
    }
    let v = s.verify_result();
    Some(if v.as_raw() == 0 {
        "SUCCESS".into()
    } else {
        format!("FAILED:{}", v.error_string())
    })
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// A name as RFC 2253 prints it (OpenSSL's XN_FLAG_RFC2253, what nginx's `$ssl_client_s_dn`
/// shows): the last entry first, `,` between, special characters escaped.
fn rfc2253(name: &openssl::x509::X509NameRef) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in name.entries() {
        let key = e.object().nid().short_name().unwrap_or("UNDEF").to_string();
        let val = e.data().to_string().unwrap_or_default();
        let len = val.chars().count();
        let mut esc = String::new();
        for (i, ch) in val.chars().enumerate() {
            let first_or_last = i == 0 || i + 1 == len;
            if matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
                || (i == 0 && ch == '#')
                || (first_or_last && ch == ' ')
            {
                esc.push('\\');
            }
            esc.push(ch);
        }
        parts.push(format!("{key}={esc}"));
    }
    parts.reverse();
    parts.join(",")
}
