//! The nginx.conf language for oxiresty: a lexer and parser that read nginx's syntax (plus
//! raw Lua bodies of `*_by_lua_block`), a directive registry that modules fill with their own
//! tables, and parsers for nginx's value types. Errors are worded as nginx words them.

pub mod ast;
pub mod error;
pub mod parse;
pub mod registry;
pub mod value;

pub use ast::{Arg, Cmd};
pub use error::{ConfError, Location, Result, errno_text, os_reason};
pub use parse::{parse_bytes, parse_file, parse_file_tracked};
pub use registry::{Apply, Args, Ctx, Directive, Registry, set_once};
