//! Private keys as nginx reads them: an encrypted one with the passwords of a
//! `*ssl_password_file`, each tried in turn.

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};

/// A password file's passwords, one a line (nginx's ngx_ssl_read_password_file).
pub fn read_password_file(path: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("open() \"{path}\" failed ({})", conf::errno_text(&e)))?;
    Ok(text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// A certificate's or key's PEM file (`what` names it in the error), in nginx's words
/// when it cannot be read.
pub fn read_pem(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot load {what} \"{path}\": BIO_new_file() failed (SSL: error:80000002:system library::{})",
            conf::os_reason(&e)
        )
    })
}

/// The key of a key directive (`path` as the error shows it), in nginx's words when it
/// does not open.
pub fn key_from_pem(path: &str, pem: &[u8], passwords: &[String]) -> Result<PKey<Private>, String> {
    load_key(pem, passwords).map_err(|e| {
        format!(
            "cannot load certificate key \"{path}\": PEM_read_bio_PrivateKey() failed {}",
            super::error_text(&e)
        )
    })
}

/// A PEM key, unencrypted, or with the first of `passwords` that opens it (the last
/// failure when none does). An encrypted key without passwords fails: OpenSSL is never
/// left to prompt on a terminal.
pub fn load_key(pem: &[u8], passwords: &[String]) -> Result<PKey<Private>, ErrorStack> {
    if passwords.is_empty() {
        return PKey::private_key_from_pem_callback(pem, |_| Ok(0));
    }
    let mut last = None;
    for p in passwords {
        match PKey::private_key_from_pem_passphrase(pem, p.as_bytes()) {
            Ok(k) => return Ok(k),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(ErrorStack::get))
}
