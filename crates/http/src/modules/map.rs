//! nginx's map module: `map string $variable { key value; … }` makes a variable whose
//! value is looked up from another string (usually variables) when it is read.

use std::cell::Cell;
use std::collections::HashMap;

use conf::registry::HTTP;
use conf::{Args, Cmd, Directive, Registry, Result};

use crate::builder::HttpBuilder;
use crate::config::Computed;
use crate::module::Module;
use crate::request::Request;
use crate::template::Template;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::block("map", HTTP, Args::Block(2, 2), map),
    Directive::value("map_hash_bucket_size", HTTP, Args::Exactly(1), accepted),
    Directive::value("map_hash_max_size", HTTP, Args::Exactly(1), accepted),
];

pub static MODULE: Module = Module::new("ngx_http_map_module", DIRECTIVES);

impl Computed for Map {
    fn value(&self, r: &Request) -> String {
        Map::value(self, r)
    }
}

/// `map string $variable { key value; … }` (http).
fn map(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    let source = b.template(cmd, cmd.arg(0))?;
    let name = b.declare_computed(cmd, cmd.arg(1))?;
    let mut map = Map::new(source);
    for line in cmd.children() {
        let bad_count = || line.error("invalid number of the map parameters".to_string());
        if line.block.is_some() {
            return Err(bad_count());
        }
        let entry = match (line.name.as_str(), line.args.len()) {
            ("hostnames", 0) => Entry::Hostnames,
            ("volatile", 0) => Entry::Volatile,
            (_, n) if n != 1 => return Err(bad_count()),
            ("default", _) => Entry::Default(b.template(line, line.arg(0))?),
            (key, _) => {
                let value = b.template(line, line.arg(0))?;
                if let Some(pattern) = key.strip_prefix("~*") {
                    Entry::Regex(b.regex(line, pattern, true)?, value)
                } else if let Some(pattern) = key.strip_prefix('~') {
                    Entry::Regex(b.regex(line, pattern, false)?, value)
                } else {
                    // `\default`, `\~x`: a key spelled like a special parameter
                    Entry::Key(key.strip_prefix('\\').unwrap_or(key).to_string(), value)
                }
            }
        };
        map.add(entry).map_err(|msg| line.error(msg))?;
    }
    b.set_computed(name, Box::new(map));
    Ok(())
}

/// (one hash table per map here: nothing to size)
fn accepted(_b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    Ok(())
}

/// One `map` block, compiled.
pub struct Map {
    pub source: Template,
    /// Strings, lowercased: matched ignoring case.
    exact: HashMap<String, Template>,
    /// `hostnames` masks `*.example.com` (subdomains: ".example.com") and `.example.com`
    /// (the name and its subdomains, kept as "example.com" with `and_self`).
    wild_start: Vec<WildStart>,
    /// `hostnames` masks `mail.*`, kept as "mail.".
    wild_end: Vec<(String, Template)>,
    regexes: Vec<(pcre2::bytes::Regex, Template)>,
    default: Option<Template>,
    hostnames: bool,
}

struct WildStart {
    suffix: String,
    and_self: bool,
    value: Template,
}

/// What a line of a map block is.
pub enum Entry {
    Default(Template),
    Hostnames,
    Volatile,
    Key(String, Template),
    Regex(pcre2::bytes::Regex, Template),
}

impl Map {
    pub fn new(source: Template) -> Map {
        Map {
            source,
            exact: HashMap::new(),
            wild_start: Vec::new(),
            wild_end: Vec::new(),
            regexes: Vec::new(),
            default: None,
            hostnames: false,
        }
    }

    /// Adds a line; `Err` is nginx's complaint about it.
    pub fn add(&mut self, entry: Entry) -> Result<(), String> {
        match entry {
            Entry::Default(v) => {
                if self.default.replace(v).is_some() {
                    return Err("duplicate default map parameter".into());
                }
            }
            Entry::Hostnames => self.hostnames = true,
            // (a value is never cached here: every read looks it up again)
            Entry::Volatile => {}
            Entry::Regex(re, v) => self.regexes.push((re, v)),
            Entry::Key(key, v) => {
                let key = key.to_ascii_lowercase();
                if self.hostnames {
                    if let Some(rest) = key.strip_prefix("*.") {
                        return self.add_start(format!(".{rest}"), false, v, &key);
                    }
                    if let Some(rest) = key.strip_prefix('.') {
                        return self.add_start(rest.to_string(), true, v, &key);
                    }
                    if let Some(rest) = key.strip_suffix(".*") {
                        self.wild_end.push((format!("{rest}."), v));
                        return Ok(());
                    }
                }
                if self.exact.insert(key.clone(), v).is_some() {
                    return Err(format!("conflicting parameter \"{key}\""));
                }
            }
        }
        Ok(())
    }

    fn add_start(&mut self, suffix: String, and_self: bool, value: Template, key: &str) -> Result<(), String> {
        if self
            .wild_start
            .iter()
            .any(|w| w.suffix == suffix && w.and_self == and_self)
        {
            return Err(format!("conflicting parameter \"{key}\""));
        }
        self.wild_start.push(WildStart {
            suffix,
            and_self,
            value,
        });
        Ok(())
    }

    /// The variable's value for this request (empty, and logged, when maps refer to each
    /// other in a cycle).
    pub fn value(&self, r: &Request) -> String {
        thread_local! {
            static DEPTH: Cell<u32> = const { Cell::new(0) };
            static CYCLE: Cell<bool> = const { Cell::new(false) };
        }
        let depth = DEPTH.with(|d| d.replace(d.get() + 1));
        // once a cycle is seen, every level gives up at once (each level may read the
        // next twice: going on would take exponential time)
        let value = if CYCLE.with(Cell::get) {
            String::new()
        } else if depth >= 32 {
            CYCLE.with(|c| c.set(true));
            String::new()
        } else {
            self.lookup(r)
        };
        DEPTH.with(|d| d.set(depth));
        if depth == 0 && CYCLE.with(|c| c.replace(false)) {
            r.log(crate::log::Level::Error, "cycle while evaluating a map variable");
            return String::new();
        }
        value
    }

    /// nginx's order: a string, the longest leading mask, the longest trailing mask, the
    /// first regex that matches, `default`.
    fn lookup(&self, r: &Request) -> String {
        let source = self.source.render(r);
        let mut key = source.to_ascii_lowercase();
        if self.hostnames && key.ends_with('.') {
            key.pop();
        }
        if let Some(v) = self.exact.get(&key) {
            return v.render(r);
        }
        if let Some(w) = self.longest_start(&key) {
            return w.value.render(r);
        }
        if let Some((_, v)) = self
            .wild_end
            .iter()
            .filter(|(prefix, _)| key.len() > prefix.len() && key.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
        {
            return v.render(r);
        }
        for (re, v) in &self.regexes {
            if let Ok(Some(caps)) = re.captures(source.as_bytes()) {
                // the match's captures ($1…, named groups) are what its value sees
                let group = |name: &str| {
                    let i = match name.parse::<usize>() {
                        Ok(i) => i,
                        Err(_) => re
                            .capture_names()
                            .iter()
                            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))?,
                    };
                    caps.get(i).map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                };
                return v.render_resolving(r, group);
            }
        }
        self.default.as_ref().map(|d| d.render(r)).unwrap_or_default()
    }

    fn longest_start(&self, key: &str) -> Option<&WildStart> {
        self.wild_start
            .iter()
            .filter(|w| {
                (w.and_self && key == w.suffix)
                    || (key.len() > w.suffix.len()
                        && key.ends_with(w.suffix.as_str())
                        && (!w.and_self || key.as_bytes()[key.len() - w.suffix.len() - 1] == b'.'))
            })
            .max_by_key(|w| w.suffix.len() + usize::from(w.and_self))
    }
}
