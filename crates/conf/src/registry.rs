//! The directive registry: every module lists its directives as rows of a table; the registry
//! checks context, arity and block shape once for all of them, then calls the row's `apply`.

use std::collections::{HashMap, HashSet};

use crate::ast::Cmd;
use crate::error::{ConfError, Result};

/// The blocks a directive may stand in, as bits (nginx's NGX_*_CONF).
pub type Ctx = u32;
pub const MAIN: Ctx = 1;
pub const EVENTS: Ctx = 1 << 1;
pub const HTTP: Ctx = 1 << 2;
pub const SRV: Ctx = 1 << 3;
pub const LOC: Ctx = 1 << 4;
/// `if` inside a server block.
pub const SIF: Ctx = 1 << 5;
/// `if` inside a location block.
pub const LIF: Ctx = 1 << 6;
pub const UPS: Ctx = 1 << 7;
/// Inside `types { }`, `map { }` and other blocks whose lines are data, not directives.
pub const DATA: Ctx = 1 << 8;
/// Inside `limit_except { }`.
pub const LMT: Ctx = 1 << 9;

/// How many words a directive takes (its name not counted) and whether it opens a block.
#[derive(Debug, Clone, Copy)]
pub enum Args {
    Exactly(usize),
    Range(usize, usize),
    AtLeast(usize),
    /// Exactly one word, `on` or `off`.
    Flag,
    /// A `{ }` block with this many words before it.
    Block(usize, usize),
}

/// What a directive does with its words.
pub enum Apply<T: 'static> {
    /// Parses values into the target.
    Value(fn(&mut T, &Cmd) -> Result<()>),
    /// Opens a block: gets the registry to walk the children with.
    Block(fn(&mut T, &Cmd, &Registry<T>) -> Result<()>),
}

pub struct Directive<T: 'static> {
    pub name: &'static str,
    pub contexts: Ctx,
    pub args: Args,
    pub apply: Apply<T>,
}

impl<T: 'static> Directive<T> {
    pub const fn value(name: &'static str, contexts: Ctx, args: Args, f: fn(&mut T, &Cmd) -> Result<()>) -> Self {
        Directive {
            name,
            contexts,
            args,
            apply: Apply::Value(f),
        }
    }

    pub const fn block(
        name: &'static str,
        contexts: Ctx,
        args: Args,
        f: fn(&mut T, &Cmd, &Registry<T>) -> Result<()>,
    ) -> Self {
        Directive {
            name,
            contexts,
            args,
            apply: Apply::Block(f),
        }
    }
}

/// A set of directive tables over one target type `T` (the builder of one part of the config).
pub struct Registry<T: 'static> {
    table: HashMap<&'static str, &'static Directive<T>>,
    /// Names other registries own: here they are "not allowed", not "unknown".
    elsewhere: HashSet<&'static str>,
}

impl<T: 'static> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            table: HashMap::new(),
            elsewhere: HashSet::new(),
        }
    }
}

impl<T: 'static> Registry<T> {
    /// Adds a module's table; a name registered twice is a programming error.
    pub fn add(&mut self, rows: &'static [Directive<T>]) {
        for d in rows {
            let prev = self.table.insert(d.name, d);
            assert!(prev.is_none(), "directive {} registered twice", d.name);
        }
    }

    /// Names handled by another registry, so that misplacing them reads "not allowed here".
    pub fn know_elsewhere(&mut self, names: impl IntoIterator<Item = &'static str>) {
        self.elsewhere.extend(names);
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.table.keys().copied()
    }

    /// Applies each directive of `cmds`, standing in a block of kind `ctx`, to `target`.
    pub fn run(&self, target: &mut T, ctx: Ctx, cmds: &[Cmd]) -> Result<()> {
        for cmd in cmds {
            let d = self.check(ctx, cmd)?;
            match d.apply {
                Apply::Value(f) => f(target, cmd)?,
                Apply::Block(f) => f(target, cmd, self)?,
            }
        }
        Ok(())
    }

    /// Finds the directive and checks where it stands and how it is shaped.
    /// True when a directive of this name is registered (in any context).
    pub fn knows(&self, name: &str) -> bool {
        self.table.contains_key(name)
    }

    pub fn check(&self, ctx: Ctx, cmd: &Cmd) -> Result<&'static Directive<T>> {
        let at = || cmd.at.clone();
        let name = || cmd.name.clone();
        let Some(d) = self.table.get(cmd.name.as_str()).copied() else {
            if self.elsewhere.contains(cmd.name.as_str()) {
                return Err(ConfError::NotAllowedHere { name: name(), at: at() });
            }
            return Err(ConfError::UnknownDirective { name: name(), at: at() });
        };
        if d.contexts & ctx == 0 {
            return Err(ConfError::NotAllowedHere { name: name(), at: at() });
        }
        let n = cmd.args.len();
        let (lo, hi, wants_block) = match d.args {
            Args::Exactly(k) => (k, k, false),
            Args::Range(a, b) => (a, b, false),
            Args::AtLeast(a) => (a, usize::MAX, false),
            Args::Flag => (1, 1, false),
            Args::Block(a, b) => (a, b, true),
        };
        match (wants_block, cmd.block.is_some()) {
            (true, false) => {
                return Err(ConfError::NoOpeningBrace { name: name(), at: at() });
            }
            (false, true) => {
                return Err(ConfError::NotTerminated { name: name(), at: at() });
            }
            _ => {}
        }
        if n < lo || n > hi {
            return Err(ConfError::Arity { name: name(), at: at() });
        }
        if let Args::Flag = d.args {
            crate::value::flag(cmd, cmd.arg(0))?;
        }
        Ok(d)
    }
}

/// Sets an option once; a second setting is nginx's "directive is duplicate".
pub fn set_once<V>(slot: &mut Option<V>, v: V, cmd: &Cmd) -> Result<()> {
    if slot.is_some() {
        return Err(cmd.duplicate());
    }
    *slot = Some(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_bytes;
    use std::path::Path;

    #[derive(Default)]
    struct T {
        workers: Option<u64>,
        seen: Vec<String>,
    }

    fn workers(t: &mut T, c: &Cmd) -> Result<()> {
        let n = crate::value::number(c, c.arg(0))?;
        set_once(&mut t.workers, n, c)
    }
    fn note(t: &mut T, c: &Cmd) -> Result<()> {
        t.seen.push(c.name.clone());
        Ok(())
    }
    fn events(t: &mut T, c: &Cmd, r: &Registry<T>) -> Result<()> {
        r.run(t, EVENTS, c.children())
    }

    static ROWS: [Directive<T>; 4] = [
        Directive::value("workers", MAIN, Args::Exactly(1), workers),
        Directive::value("daemon", MAIN, Args::Flag, note),
        Directive::value("worker_connections", EVENTS, Args::Exactly(1), note),
        Directive::block("events", MAIN, Args::Block(0, 0), events),
    ];

    fn run(src: &str) -> Result<T> {
        let mut r = Registry::default();
        r.add(&ROWS);
        r.know_elsewhere(["http"]);
        let cmds = parse_bytes(src.as_bytes(), Path::new("/c/n.conf"), Path::new("/c"))?;
        let mut t = T::default();
        r.run(&mut t, MAIN, &cmds)?;
        Ok(t)
    }

    #[test]
    fn applies_rows() {
        let t = run("workers 4; daemon off; events { worker_connections 10; }").unwrap();
        assert_eq!(t.workers, Some(4));
        assert_eq!(t.seen, ["daemon", "worker_connections"]);
    }

    #[test]
    fn rejects_in_nginx_words() {
        let e = |s| run(s).err().unwrap().to_string();
        assert_eq!(e("foo 1;"), "unknown directive \"foo\" in /c/n.conf:1");
        assert_eq!(e("http 1;"), "\"http\" directive is not allowed here in /c/n.conf:1");
        assert_eq!(
            e("worker_connections 1;"),
            "\"worker_connections\" directive is not allowed here in /c/n.conf:1"
        );
        assert_eq!(
            e("workers;"),
            "invalid number of arguments in \"workers\" directive in /c/n.conf:1"
        );
        assert_eq!(
            e("workers 1;\nworkers 2;"),
            "\"workers\" directive is duplicate in /c/n.conf:2"
        );
        assert_eq!(
            e("workers x;"),
            "invalid value \"x\" in \"workers\" directive in /c/n.conf:1"
        );
        assert_eq!(
            e("daemon maybe;"),
            "invalid value \"maybe\" in \"daemon\" directive, it must be \"on\" or \"off\" in /c/n.conf:1"
        );
        assert_eq!(e("events;"), "directive \"events\" has no opening \"{\" in /c/n.conf:1");
        assert_eq!(
            e("workers 1 { }"),
            "directive \"workers\" is not terminated by \";\" in /c/n.conf:1"
        );
    }
}
