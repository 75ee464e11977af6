//! The http modules this binary is built with, in order (nginx's `ngx_modules[]`, which
//! its `configure` writes to objs/ngx_modules.c). Within a phase, handlers run in this
//! order, and so do header and body filters; of two content handlers set in one
//! location, the later module's wins. Adding a module is its file plus a line here.

use http::Module;
use http::modules::*;

pub static HTTP_MODULES: &[&Module] = &[
    &http::core_module::MODULE,
    &ssl::MODULE,
    &rewrite::MODULE,
    &access::MODULE,
    &auth_basic::MODULE,
    &auth_request::MODULE,
    &realip::MODULE,
    &try_files::MODULE,
    // the content phase's handlers, for locations without a content handler
    &dav::MODULE,
    &index::MODULE,
    &autoindex::MODULE,
    &gzip::GZIP_STATIC_MODULE,
    &static_file::MODULE,
    // content handlers
    &proxy::UPSTREAM_MODULE,
    &proxy::MODULE,
    &empty_gif::MODULE,
    &echo::MODULE,
    // header filters
    &charset::MODULE,
    &headers::MODULE,
    &limit_rate::MODULE,
    // variables
    &map::MODULE,
    &geo::MODULE,
    &split_clients::MODULE,
    &referer::MODULE,
    // (runs rewrite_by_lua and access_by_lua at the end of their phases, whatever the
    // order; its content handler wins over those above)
    &lua::MODULE,
    // after Lua: its output filter sees what Lua's header filters set
    &headers_more::MODULE,
    // last of the filters, as in nginx's chain: the others see the plain body
    &gzip::GUNZIP_MODULE,
    &gzip::MODULE,
    &log::MODULE,
];

/// Whether nginx's module `name` (as its `.so` is named) is built into this binary. The
/// Nginx Development Kit comes with the Lua module (it needs it), and the core modules
/// nginx builds in whatever its `configure` says are here too.
pub fn built_in(name: &str) -> bool {
    name == "ndk_http_module" || HTTP_MODULES.iter().any(|m| m.name == name)
}
