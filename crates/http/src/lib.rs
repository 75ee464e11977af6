//! oxiresty's HTTP core: HTTP/1.1 connections, nginx's phase engine, server and location
//! selection, output and framing, error pages, the error log, the core module's
//! directives (`core_module`); and beside it, in `modules/`, the nginx modules built on
//! it, each in its own place (`module::Module`). It knows nothing of Lua: modules above
//! (Lua, later proxy) plug in the same way, and the binary lists them all in order.

pub mod body;
pub mod builder;
pub mod conditional;
pub mod config;
pub mod conn;
pub mod core_module;
pub mod engine;
pub mod ext;
pub mod files;
pub mod find;
pub mod h1;
pub mod io;
pub mod log;
pub mod module;
pub mod modules;
pub mod output;
pub mod phase;
pub mod request;
pub mod resolver;
pub mod session_cache;
pub mod spare;
pub mod status;
pub mod syslog;
pub mod template;
pub mod ticket_keys;
pub mod time;
pub mod tls;
pub mod variables;
pub mod worker;

pub use builder::{HttpBuilder, LocDraft, build, registry};
pub use module::Module;

/// The nginx release whose behaviour oxiresty follows, as a literal (for `concat!`).
#[macro_export]
macro_rules! nginx_version {
    () => {
        "1.27.1"
    };
}

/// The nginx release whose behaviour oxiresty follows: what tools read as "the nginx
/// version" (`-v`, the `Server` header, `$nginx_version`, `ngx.config.nginx_version`).
pub const NGINX_VERSION: &str = nginx_version!();
/// oxiresty's own version, shown beside it by `-v` / `-V`.
pub const OXIRESTY_VERSION: &str = env!("CARGO_PKG_VERSION");
/// `oxiresty/1.27.1`, as `Server:` and error pages show it.
pub const SERVER_FULL: &str = concat!("oxiresty/", nginx_version!());
pub const SERVER_NAME: &str = "oxiresty";
