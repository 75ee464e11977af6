//! oxiresty's HTTP core: HTTP/1.1 connections, nginx's phase engine, server and location
//! selection, static files, error pages, the error and access logs. It knows nothing of Lua:
//! modules above plug in through directives (`directives::HttpBuilder`) and phase handlers.

pub mod access;
pub mod auth_basic;
pub mod autoindex;
pub mod body;
pub mod charset;
pub mod conditional;
pub mod config;
pub mod conn;
pub mod directives;
pub mod echo;
pub mod engine;
pub mod expires;
pub mod ext;
pub mod find;
pub mod geo;
pub mod h1;
pub mod handlers;
pub mod headers_more;
pub mod io;
pub mod log;
pub mod log_format;
pub mod map;
pub mod output;
pub mod phase;
pub mod realip;
pub mod request;
pub mod spare;
pub mod split_clients;
pub mod static_file;
pub mod status;
pub mod template;
pub mod time;
pub mod variables;
pub mod worker;

/// `oxiresty/0.1.0`, as `Server:` and error pages show it.
pub const SERVER_FULL: &str = concat!("oxiresty/", env!("CARGO_PKG_VERSION"));
pub const SERVER_NAME: &str = "oxiresty";
/// The version number alone ($nginx_version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
