//! What `ssl_crl` and `ssl_conf_command` (and their `proxy_ssl_` and `lua_ssl_` forms)
//! add to a context, as nginx's ngx_ssl_crl and ngx_ssl_conf_commands do.

use std::ffi::{CString, c_char, c_int, c_uint};

use openssl::error::ErrorStack;
use openssl::ssl::SslContextBuilder;
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;

use super::error_text;

/// Loads the revocation lists of a PEM file into the context's store, and has every
/// certificate of a chain checked against them (a certificate whose issuer has no list
/// fails with "unable to get certificate CRL", as with nginx).
pub fn load_crl(b: &mut SslContextBuilder, path: &str) -> Result<(), String> {
    let failed = |e: ErrorStack| format!("X509_LOOKUP_load_file(\"{path}\") failed {}", error_text(&e));
    let store = b.cert_store_mut();
    let lookup = store
        .add_lookup(X509Lookup::file())
        .map_err(|e| format!("X509_STORE_add_lookup() failed {}", error_text(&e)))?;
    lookup
        .load_crl_file(path, openssl::ssl::SslFiletype::PEM)
        .map_err(failed)?;
    store
        .set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL)
        .map_err(|e| format!("X509_STORE_set_flags() failed {}", error_text(&e)))
}

#[allow(non_camel_case_types)]
enum SSL_CONF_CTX {}

unsafe extern "C" {
    fn SSL_CONF_CTX_new() -> *mut SSL_CONF_CTX;
    fn SSL_CONF_CTX_free(cctx: *mut SSL_CONF_CTX);
    fn SSL_CONF_CTX_set_flags(cctx: *mut SSL_CONF_CTX, flags: c_uint) -> c_uint;
    fn SSL_CONF_CTX_set_ssl_ctx(cctx: *mut SSL_CONF_CTX, ctx: *mut openssl_sys::SSL_CTX);
    fn SSL_CONF_cmd(cctx: *mut SSL_CONF_CTX, cmd: *const c_char, value: *const c_char) -> c_int;
    fn SSL_CONF_CTX_finish(cctx: *mut SSL_CONF_CTX) -> c_int;
}

const SSL_CONF_FLAG_FILE: c_uint = 0x2;
const SSL_CONF_FLAG_CLIENT: c_uint = 0x4;
const SSL_CONF_FLAG_SERVER: c_uint = 0x8;
const SSL_CONF_FLAG_SHOW_ERRORS: c_uint = 0x10;
const SSL_CONF_FLAG_CERTIFICATE: c_uint = 0x20;

/// Applies `ssl_conf_command NAME VALUE` lines to a context (a server's, or a client's),
/// in order, after everything else is set (OpenSSL's configuration commands, as in a
/// configuration file).
pub fn conf_commands(b: &mut SslContextBuilder, commands: &[(String, String)], server: bool) -> Result<(), String> {
    if commands.is_empty() {
        return Ok(());
    }
    let side = if server {
        SSL_CONF_FLAG_SERVER
    } else {
        SSL_CONF_FLAG_CLIENT
    };
    // SAFETY: a configuration context of our own, freed below on every path; it is tied
    // to `b`'s context, which outlives it.
    unsafe {
        let cctx = SSL_CONF_CTX_new();
        if cctx.is_null() {
            return Err(format!("SSL_CONF_CTX_new() failed {}", error_text(&ErrorStack::get())));
        }
        SSL_CONF_CTX_set_flags(
            cctx,
            SSL_CONF_FLAG_FILE | side | SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS,
        );
        SSL_CONF_CTX_set_ssl_ctx(cctx, b.as_ptr());
        let mut result = Ok(());
        for (name, value) in commands {
            let failed = || format!("SSL_CONF_cmd(\"{name}\", \"{value}\") failed");
            let (Ok(n), Ok(v)) = (CString::new(name.as_str()), CString::new(value.as_str())) else {
                result = Err(failed());
                break;
            };
            if SSL_CONF_cmd(cctx, n.as_ptr(), v.as_ptr()) <= 0 {
                result = Err(format!("{} {}", failed(), error_text(&ErrorStack::get())));
                break;
            }
        }
        if result.is_ok() && SSL_CONF_CTX_finish(cctx) != 1 {
            result = Err(format!("SSL_CONF_finish() failed {}", error_text(&ErrorStack::get())));
        }
        SSL_CONF_CTX_free(cctx);
        result
    }
}
