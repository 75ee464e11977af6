//! The http modules beside the core, one file (or folder) each, as nginx keeps them in
//! `ngx_http_*_module.c`: each owns its directives, its settings, its handlers and filters
//! and its variables, and exports them as one `MODULE`. Which modules a binary has, and in
//! which order, is its module list (the binary's `modules.rs`).

pub mod access;
pub mod auth_basic;
pub mod auth_request;
pub mod autoindex;
pub mod charset;
pub mod dav;
pub mod echo;
pub mod empty_gif;
pub mod geo;
pub mod gzip;
pub mod headers;
pub mod headers_more;
pub mod index;
pub mod limit_rate;
pub mod log;
pub mod map;
pub mod realip;
pub mod referer;
pub mod rewrite;
pub mod split_clients;
pub mod ssl;
pub mod static_file;
pub mod try_files;
