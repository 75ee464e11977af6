//! `ssl_session_ticket_key` files: TLS session tickets encrypted with keys from files, so
//! tickets outlive a restart and can be shared by several servers. The first key
//! encrypts; every key decrypts (a ticket under an older one is renewed), as nginx's
//! ngx_ssl_ticket_key_callback: 80-byte files are AES-256-CBC with a 32-byte HMAC-SHA256
//! key, 48-byte ones AES-128-CBC with a 16-byte HMAC key.

use std::ffi::{c_char, c_int, c_uchar};
use std::sync::OnceLock;

use foreign_types::ForeignTypeRef;
use openssl::ex_data::Index;
use openssl::ssl::{SslContext, SslContextBuilder, SslRef};

/// One key file's parts.
struct TicketKey {
    name: [u8; 16],
    hmac: Vec<u8>,
    aes: Vec<u8>,
}

impl TicketKey {
    /// nginx's layouts: 80 bytes name|hmac(32)|aes(32), 48 bytes name|aes(16)|hmac(16).
    fn parse(bytes: &[u8]) -> Option<TicketKey> {
        let mut name = [0u8; 16];
        name.copy_from_slice(bytes.get(..16)?);
        let (hmac, aes) = match bytes.len() {
            80 => (bytes[16..48].to_vec(), bytes[48..80].to_vec()),
            48 => (bytes[32..48].to_vec(), bytes[16..32].to_vec()),
            _ => return None,
        };
        Some(TicketKey { name, hmac, aes })
    }

    fn cipher(&self) -> *const openssl_sys::EVP_CIPHER {
        // SAFETY: OpenSSL's static cipher descriptions.
        unsafe {
            if self.aes.len() == 32 {
                openssl_sys::EVP_aes_256_cbc()
            } else {
                openssl_sys::EVP_aes_128_cbc()
            }
        }
    }
}

/// A context's keys, kept in its ex data.
struct TicketKeys(Vec<TicketKey>);

fn index() -> Index<SslContext, TicketKeys> {
    static INDEX: OnceLock<Index<SslContext, TicketKeys>> = OnceLock::new();
    *INDEX.get_or_init(|| SslContext::new_ex_index().expect("an ex data index"))
}

/// Makes the context encrypt and decrypt tickets with these keys (each 80 or 48 bytes).
pub fn install(b: &mut SslContextBuilder, keys: &[Vec<u8>]) -> Result<(), String> {
    let parsed: Option<Vec<TicketKey>> = keys.iter().map(|k| TicketKey::parse(k)).collect();
    let parsed = parsed.ok_or("ssl_session_ticket_key must be 80 or 48 bytes")?;
    b.set_ex_data(index(), TicketKeys(parsed));
    // SAFETY: the context is ours; the callback reads the keys from its ex data.
    let r = unsafe { SSL_CTX_set_tlsext_ticket_key_evp_cb(b.as_ptr(), Some(ticket_key_callback)) };
    if r == 1 {
        Ok(())
    } else {
        Err("SSL_CTX_set_tlsext_ticket_key_evp_cb() failed".into())
    }
}

/// OpenSSL's ticket key callback: 1 with the key set up, 2 (decrypting) when the ticket
/// should be renewed under the current key, 0 when no key is this ticket's, -1 on error.
unsafe extern "C" fn ticket_key_callback(
    ssl: *mut openssl_sys::SSL,
    name: *mut c_uchar,
    iv: *mut c_uchar,
    cipher: *mut openssl_sys::EVP_CIPHER_CTX,
    mac: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    // SAFETY: OpenSSL calls this with a live session and buffers of 16 bytes (name) and
    // EVP_MAX_IV_LENGTH (iv); the context's ex data is ours.
    unsafe {
        let ssl = SslRef::from_ptr(ssl);
        let Some(TicketKeys(keys)) = ssl.ssl_context().ex_data(index()) else {
            return -1;
        };
        let name = std::slice::from_raw_parts_mut(name, 16);
        let (key, renew) = if enc == 1 {
            let Some(key) = keys.first() else {
                return -1;
            };
            name.copy_from_slice(&key.name);
            if openssl_sys::RAND_bytes(iv, 16) != 1 {
                return -1;
            }
            if openssl_sys::EVP_EncryptInit_ex(cipher, key.cipher(), std::ptr::null_mut(), key.aes.as_ptr(), iv) != 1 {
                return -1;
            }
            (key, false)
        } else {
            let Some(i) = keys.iter().position(|k| k.name[..] == name[..]) else {
                return 0;
            };
            let key = &keys[i];
            if openssl_sys::EVP_DecryptInit_ex(cipher, key.cipher(), std::ptr::null_mut(), key.aes.as_ptr(), iv) != 1 {
                return -1;
            }
            (key, i > 0)
        };
        let mut digest = *b"SHA256\0";
        let params = [
            openssl_sys::OSSL_PARAM_construct_octet_string(
                c"key".as_ptr(),
                key.hmac.as_ptr() as *mut _,
                key.hmac.len(),
            ),
            OSSL_PARAM_construct_utf8_string(c"digest".as_ptr(), digest.as_mut_ptr().cast(), 0),
            openssl_sys::OSSL_PARAM_construct_end(),
        ];
        if openssl_sys::EVP_MAC_CTX_set_params(mac, params.as_ptr()) != 1 {
            return -1;
        }
        if renew { 2 } else { 1 }
    }
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_CTX_set_tlsext_ticket_key_evp_cb(
        ctx: *mut openssl_sys::SSL_CTX,
        cb: Option<
            unsafe extern "C" fn(
                *mut openssl_sys::SSL,
                *mut c_uchar,
                *mut c_uchar,
                *mut openssl_sys::EVP_CIPHER_CTX,
                *mut openssl_sys::EVP_MAC_CTX,
                c_int,
            ) -> c_int,
        >,
    ) -> c_int;
    fn OSSL_PARAM_construct_utf8_string(key: *const c_char, buf: *mut c_char, bsize: usize) -> openssl_sys::OSSL_PARAM;
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_files_split_as_nginx_reads_them() {
        let k80: Vec<u8> = (0..80).collect();
        let k = super::TicketKey::parse(&k80).unwrap();
        assert_eq!(k.name, core::array::from_fn::<u8, 16, _>(|i| i as u8));
        assert_eq!((k.hmac[0], k.hmac.len(), k.aes[0], k.aes.len()), (16, 32, 48, 32));
        let k48: Vec<u8> = (0..48).collect();
        let k = super::TicketKey::parse(&k48).unwrap();
        assert_eq!((k.aes[0], k.aes.len(), k.hmac[0], k.hmac.len()), (16, 16, 32, 16));
        assert!(super::TicketKey::parse(&k48[..47]).is_none());
    }
}
