//! Exports the binary's symbols to its own LuaJIT: the `ngx.*` wrappers call Rust through
//! `ffi.C.oxr_*`, and C modules on lua_package_cpath find the `lua_*` API.
fn main() {
    println!("cargo:rustc-link-arg-bins=-rdynamic");
}
