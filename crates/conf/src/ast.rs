//! The parsed config: a tree of directives, each with its words and its place.

use crate::error::{ConfError, Location};

/// One word of a directive, unescaped. `quoted` remembers whether it was written in quotes
/// (nginx treats `if ($a = "")` and friends differently when it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub value: String,
    pub quoted: bool,
}

/// A directive: `name arg...;` or `name arg... { block }`.
/// A `*_by_lua_block` directive keeps its Lua body, raw, as its last argument and has no block.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub name: String,
    pub args: Vec<Arg>,
    pub block: Option<Vec<Cmd>>,
    pub at: Location,
}

impl Cmd {
    /// The argument values as plain strings.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.args.iter().map(|a| a.value.as_str())
    }

    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).map(|a| a.value.as_str()).unwrap_or("")
    }

    /// `invalid value "v" in "name" directive[, detail]` at this directive.
    pub fn invalid_value(&self, v: &str, detail: &str) -> ConfError {
        let msg = if detail.is_empty() {
            format!("invalid value \"{v}\" in \"{}\" directive", self.name)
        } else {
            format!("invalid value \"{v}\" in \"{}\" directive, {detail}", self.name)
        };
        ConfError::Invalid {
            msg,
            at: self.at.clone(),
        }
    }

    /// Any nginx-worded sentence about this directive, located here.
    pub fn error(&self, msg: impl Into<String>) -> ConfError {
        ConfError::Invalid {
            msg: msg.into(),
            at: self.at.clone(),
        }
    }

    pub fn duplicate(&self) -> ConfError {
        ConfError::Duplicate {
            name: self.name.clone(),
            at: self.at.clone(),
        }
    }

    pub fn children(&self) -> &[Cmd] {
        self.block.as_deref().unwrap_or(&[])
    }
}
