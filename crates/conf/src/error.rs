//! One error type for everything the config language can reject, worded as nginx words it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a directive stands: displays as `/abs/conf/nginx.conf:12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<PathBuf>,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("unknown directive \"{name}\" in {at}")]
    UnknownDirective { name: String, at: Location },
    #[error("\"{name}\" directive is not allowed here in {at}")]
    NotAllowedHere { name: String, at: Location },
    #[error("invalid number of arguments in \"{name}\" directive in {at}")]
    Arity { name: String, at: Location },
    #[error("\"{name}\" directive is duplicate in {at}")]
    Duplicate { name: String, at: Location },
    #[error("directive \"{name}\" has no opening \"{{\" in {at}")]
    NoOpeningBrace { name: String, at: Location },
    #[error("directive \"{name}\" is not terminated by \";\" in {at}")]
    NotTerminated { name: String, at: Location },
    #[error("unexpected \"{token}\" in {at}")]
    Unexpected { token: String, at: Location },
    #[error("unexpected end of file, expecting {expecting} in {at}")]
    UnexpectedEof { expecting: &'static str, at: Location },
    #[error("open() \"{path}\" failed ({reason}){}", at.as_ref().map(|a| format!(" in {a}")).unwrap_or_default())]
    Open {
        path: String,
        reason: String,
        at: Option<Location>,
    },
    /// A failure that belongs to no directive (e.g. `init_by_lua` failing).
    #[error("{0}")]
    Other(String),
    /// A value the directive cannot take; `msg` is nginx's sentence for it.
    #[error("{msg} in {at}")]
    Invalid { msg: String, at: Location },
}

/// An OS error's text without std's " (os error N)" suffix: `No such file or directory`.
pub fn os_reason(e: &std::io::Error) -> String {
    let t = e.to_string();
    t.split(" (os error").next().unwrap_or(&t).to_string()
}

/// An OS error as nginx prints it in parentheses: `2: No such file or directory`.
pub fn errno_text(e: &std::io::Error) -> String {
    format!("{}: {}", e.raw_os_error().unwrap_or(0), os_reason(e))
}

impl ConfError {
    /// `open()` failure with errno text as nginx prints it: `(2: No such file or directory)`.
    pub fn open(path: &std::path::Path, err: &std::io::Error, at: Option<Location>) -> Self {
        ConfError::Open {
            path: path.display().to_string(),
            reason: errno_text(err),
            at,
        }
    }
}

pub type Result<T, E = ConfError> = std::result::Result<T, E>;
