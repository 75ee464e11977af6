//! LuaJIT in oxiresty: one VM per worker (built in the master, inherited by fork), the
//! `*_by_lua*` directives as phase handlers, each request's Lua running in its own
//! coroutine that yields to the connection's task for I/O, and the `ngx.*` API.
//!
//! Layout follows lua-nginx-module: one file per API family under `api/`.

mod api;
mod balancer;
mod cfunc;
pub mod directives;
mod filter;
mod handler;
pub mod init;
mod raw;
mod request;
mod runners;
mod sched;
mod ssl;
pub mod vm;

pub use api::{ProcessType, set_process_type, set_worker, take_agent_request, take_quit_request};
pub use directives::MODULE;
pub use vm::Generation;
