//! Exports the binary's symbols to its own LuaJIT: the `ngx.*` wrappers call Rust through
//! `ffi.C.oxr_*`, C modules on lua_package_cpath find the `lua_*` API, and Lua libraries
//! that call OpenSSL through the FFI (lua-resty-string, lua-resty-openssl) find every
//! function of libcrypto and libssl, as in OpenResty's static builds.
//!
//! The linker only takes the archive members something refers to, so the functions the
//! vendored OpenSSL archives define are listed (with `nm`) into a table the binary keeps
//! (`openssl_exports.rs`, included by src/exports.rs).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rustc-link-arg-bins=-rdynamic");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let lib = std::env::var("DEP_OPENSSL_INCLUDE")
        .map(|inc| PathBuf::from(inc).with_file_name("lib"))
        .expect("openssl-sys gives its include directory");
    let mut names = Vec::new();
    for archive in ["libcrypto.a", "libssl.a"] {
        let path = lib.join(archive);
        println!("cargo:rerun-if-changed={}", path.display());
        let listed = Command::new("nm")
            .args(["--defined-only", "-g"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("nm {}: {e}", path.display()));
        assert!(listed.status.success(), "nm {} failed", path.display());
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            let mut f = line.split_whitespace();
            if let (Some(_addr), Some("T"), Some(name)) = (f.next(), f.next(), f.next()) {
                // (OpenSSL's own assembly helpers and internals are not API)
                if !name.starts_with("ossl_") && !name.starts_with('_') && !name.contains('.') {
                    names.push(name.to_string());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    let mut src = String::from("unsafe extern \"C\" {\n");
    for n in &names {
        src.push_str(&format!("    fn {n}();\n"));
    }
    src.push_str("}\n\n");
    src.push_str(&format!(
        "/// Every function of the vendored libcrypto and libssl.\n#[used]\npub static OPENSSL_FUNCTIONS: [unsafe extern \"C\" fn(); {}] = [\n",
        names.len()
    ));
    for n in &names {
        src.push_str(&format!("    {n},\n"));
    }
    src.push_str("];\n");
    std::fs::write(out.join("openssl_exports.rs"), src).expect("OUT_DIR is writable");
}
