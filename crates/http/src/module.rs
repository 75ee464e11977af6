//! What an http module is (nginx's `ngx_module_t` with its `ngx_command_t` table): its
//! directives, the installer that puts its handlers and filters into each location's phase
//! table, and the variables it provides. The binary lists the modules it is built with, in
//! order (nginx's `ngx_modules[]`); that order is the order of their handlers within a
//! phase and of their header and body filters.

use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use conf::{Directive, Result};

use crate::builder::{HttpBuilder, LocDraft};
use crate::phase::{Handler, PhaseTable};
use crate::request::Request;

pub struct Module {
    /// nginx's name for it (`ngx_http_echo_module`).
    pub name: &'static str,
    pub directives: &'static [Directive<HttpBuilder>],
    /// Puts the module's handlers into a location's table (and the server's own level's).
    pub install: Option<Installer>,
    /// Puts the module's handlers into a server's post-read and server-rewrite phases.
    pub install_server: Option<Installer>,
    /// The variables it provides.
    pub variables: &'static [Variable],
    /// Families of variables it provides by prefix (`$upstream_http_NAME`).
    pub prefix_variables: &'static [PrefixVariable],
}

impl Module {
    /// A module with directives only; the other parts are set with struct update syntax.
    pub const fn new(name: &'static str, directives: &'static [Directive<HttpBuilder>]) -> Module {
        Module {
            name,
            directives,
            install: None,
            install_server: None,
            variables: &[],
            prefix_variables: &[],
        }
    }
}

/// Installs a module's handlers for one merged level.
pub type Installer = fn(&HttpBuilder, &LocDraft, &mut Phases) -> Result<()>;

/// A variable a module provides: read (and, when it has a setter, written by `set` and
/// `ngx.var`).
pub struct Variable {
    pub name: &'static str,
    pub get: fn(&Request) -> Option<String>,
    /// Takes the new value (`None`: unset); nginx's settable built-ins (`$limit_rate`).
    pub set: Option<VarSetter>,
}

/// A family of read-only variables named by a prefix and a suffix the reader chooses, as
/// nginx's `$http_NAME`; `get` is given the suffix.
pub struct PrefixVariable {
    pub prefix: &'static str,
    pub get: fn(&Request, &str) -> Option<String>,
}

impl PrefixVariable {
    /// The suffix of `name` when it belongs to this family.
    pub fn suffix<'n>(&self, name: &'n str) -> Option<&'n str> {
        name.strip_prefix(self.prefix).filter(|s| !s.is_empty())
    }
}

pub type VarSetter = fn(&mut Request, Option<&str>);

/// Which table an installer fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A server's post-read and server-rewrite phases.
    Server,
    /// The server's own level, which serves requests that match no location (its
    /// server-rewrite script already ran).
    ServerLevel,
    /// A `location` (or an `if` / `limit_except` block compiled as one).
    Location,
}

/// A phase table while modules install into it. Handlers may be postponed to the end of
/// their phase, whatever the modules after them add (OpenResty runs `rewrite_by_lua` and
/// `access_by_lua` last in their phases unless told otherwise).
pub struct Phases {
    pub scope: Scope,
    table: PhaseTable,
    postponed_rewrite: Vec<Rc<dyn Handler>>,
    postponed_access: Vec<Rc<dyn Handler>>,
}

impl Phases {
    pub fn new(scope: Scope) -> Phases {
        Phases {
            scope,
            table: PhaseTable::default(),
            postponed_rewrite: Vec::new(),
            postponed_access: Vec::new(),
        }
    }

    /// Runs `h` at the end of the rewrite phase.
    pub fn postpone_rewrite(&mut self, h: Rc<dyn Handler>) {
        self.postponed_rewrite.push(h);
    }

    /// Runs `h` at the end of the access phase.
    pub fn postpone_access(&mut self, h: Rc<dyn Handler>) {
        self.postponed_access.push(h);
    }

    pub fn finish(mut self) -> PhaseTable {
        self.table.rewrite.append(&mut self.postponed_rewrite);
        self.table.access.append(&mut self.postponed_access);
        self.table
    }
}

impl Deref for Phases {
    type Target = PhaseTable;
    fn deref(&self) -> &PhaseTable {
        &self.table
    }
}

impl DerefMut for Phases {
    fn deref_mut(&mut self) -> &mut PhaseTable {
        &mut self.table
    }
}

/// Declares a level's inheritable settings once: the struct of `Option`s, the merge from
/// the parent level (nginx's merge_loc_conf: what a level leaves unset it inherits), and
/// getters that fall back to nginx's defaults.
#[macro_export]
macro_rules! settings {
    ($(#[$sm:meta])* pub struct $S:ident {
        $( $(#[$m:meta])* $name:ident : $ty:ty = $default:expr ),* $(,)?
    }) => {
        $(#[$sm])*
        #[derive(Clone, Default)]
        pub struct $S { $( $(#[$m])* pub $name: Option<$ty>, )* }
        impl $crate::ext::ExtConf for $S {
            fn merge(&mut self, parent: &$S) {
                $( if self.$name.is_none() { self.$name = parent.$name.clone(); } )*
            }
        }
        #[allow(dead_code)]
        impl $S {
            $( pub fn $name(&self) -> $ty { self.$name.clone().unwrap_or_else(|| $default) } )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::{Flow, Step};

    struct Declines;
    impl Handler for Declines {
        fn handle<'a>(&'a self, _r: &'a mut Request) -> Step<'a> {
            Step::Ready(Flow::Next)
        }
    }

    fn identities(list: &[Rc<dyn Handler>]) -> Vec<*const ()> {
        list.iter().map(|h| Rc::as_ptr(h).cast::<()>()).collect()
    }

    #[test]
    fn postponed_handlers_run_after_those_installed_later() {
        let mut t = Phases::new(Scope::Location);
        let (first, late, last): (Rc<dyn Handler>, Rc<dyn Handler>, Rc<dyn Handler>) =
            (Rc::new(Declines), Rc::new(Declines), Rc::new(Declines));
        t.rewrite.push(first.clone());
        t.postpone_rewrite(late.clone());
        t.rewrite.push(last.clone());
        t.postpone_access(late.clone());
        t.access.push(first.clone());
        let table = t.finish();
        assert_eq!(
            identities(&table.rewrite),
            identities(&[first.clone(), last, late.clone()])
        );
        assert_eq!(identities(&table.access), identities(&[first, late]));
    }
}
