//! OpenSSL's functions, kept in the binary for Lua's FFI (see build.rs).
#![allow(clippy::all, non_snake_case, dead_code, clashing_extern_declarations)]

include!(concat!(env!("OUT_DIR"), "/openssl_exports.rs"));
