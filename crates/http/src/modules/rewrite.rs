//! nginx's rewrite module: `set`, `if`, `rewrite`, `return` and `break`, and the `set`-like
//! steps of other modules (`set_by_lua`), compiled into one script per level and run in
//! order in the (server-)rewrite phase. A location's `if` is compiled as a location of its
//! own (inheriting from its location); when its condition holds the request switches to
//! it, so its settings and handlers apply.

use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{LIF, LOC, SIF, SRV};
use conf::{Args, Cmd, Directive, Registry, Result};

use crate::builder::{HttpBuilder, LocDraft, status_code};
use crate::config::Location;
use crate::ext::ExtConf;
use crate::module::{Module, Phases, Scope, VarSetter};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;
use crate::template::Template;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::block("if", SRV | LOC, Args::Block(1, 5), if_),
    Directive::value("return", SRV | LOC | SIF | LIF, Args::Range(1, 2), return_),
    Directive::value("set", SRV | LOC | SIF | LIF, Args::Exactly(2), set),
    Directive::value("rewrite", SRV | LOC | SIF | LIF, Args::Range(2, 3), rewrite_),
    Directive::value("break", SRV | LOC | SIF | LIF, Args::Exactly(0), break_),
];

pub static MODULE: Module = Module {
    install: Some(install),
    install_server: Some(install),
    ..Module::new("ngx_http_rewrite_module", DIRECTIVES)
};

/// A level's script, in the order written (not inherited: each level runs its own).
#[derive(Clone, Default)]
pub struct Script(pub Vec<ScriptOp>);

impl ExtConf for Script {
    fn merge(&mut self, _parent: &Self) {}
}

/// Appends a step to the script of the level being read (modules' `set`-like
/// directives, `set_by_lua`).
pub fn push(b: &mut HttpBuilder, op: ScriptOp) {
    b.loc().conf::<Script>().0.push(op);
}

/// The server's script runs in the server-rewrite phase, not again at its own level.
fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if t.scope == Scope::ServerLevel {
        return Ok(());
    }
    if let Some(script) = d.ext.get::<Script>()
        && !script.0.is_empty()
    {
        t.rewrite.push(Rc::new(ScriptHandler(script.0.clone())));
    }
    Ok(())
}

/// `return code [text|URL];` or `return URL;`
#[derive(Clone, Debug)]
pub struct Return {
    pub code: u16,
    pub text: Option<Template>,
}

/// One directive of the rewrite module's script, run in order in the rewrite phase.
#[derive(Clone)]
pub enum ScriptOp {
    /// `set $var value;`
    Set { var: String, value: Template },
    /// `set` of a module's variable that takes a value (`$limit_rate`).
    SetBuiltin { set: VarSetter, value: Template },
    /// `return ...;`
    Return(Return),
    /// A module's `set`-like directive (set_by_lua): `var` gets what `f` computes.
    Call {
        var: String,
        args: Vec<Template>,
        f: Rc<dyn ScriptCall>,
    },
    /// `rewrite regex replacement [flag];`
    Rewrite(Rc<Rewrite>),
    /// `break;`: the rest of the script is skipped.
    Break,
    /// `if (cond) { ... }`: when true, the block's script runs and (in a location) the
    /// request takes on the block's settings and handlers.
    If(Rc<IfBlock>),
}

pub struct Rewrite {
    pub re: Arc<pcre2::bytes::Regex>,
    pub replacement: Template,
    pub flag: RewriteFlag,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    None,
    Last,
    Break,
    Redirect,
    Permanent,
}

pub struct IfBlock {
    pub cond: Cond,
    pub ops: Vec<ScriptOp>,
    /// The block's own location (an `if` in a location), set when the location compiles.
    pub loc: Rc<std::cell::OnceCell<Rc<Location>>>,
}

/// An `if` condition.
pub enum Cond {
    /// `$var`: true unless empty or "0".
    Value(Template),
    /// `$var = value` (or `!=` when `negate`).
    Equals {
        left: Template,
        right: Template,
        negate: bool,
    },
    /// `$var ~ re`, `~*`, `!~`, `!~*`.
    Regex {
        left: Template,
        re: Arc<pcre2::bytes::Regex>,
        negate: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` (and `!-f` … when `negate`).
    File {
        test: FileTest,
        path: Template,
        negate: bool,
    },
}

#[derive(Clone, Copy)]
pub enum FileTest {
    File,
    Dir,
    Exists,
    Exec,
}

impl Cond {
    pub fn eval(&self, r: &mut crate::request::Request) -> bool {
        match self {
            Cond::Value(t) => {
                let v = t.render(r);
                !(v.is_empty() || v == "0")
            }
            Cond::Equals { left, right, negate } => (left.render(r) == right.render(r)) != *negate,
            Cond::Regex { left, re, negate } => {
                let subject = left.render(r);
                r.capture(re, &subject) != *negate
            }
            Cond::File { test, path, negate } => {
                let meta = std::fs::metadata(r.http.prefix.join(path.render(r)));
                let ok = match (test, meta) {
                    (FileTest::File, Ok(m)) => m.is_file(),
                    (FileTest::Dir, Ok(m)) => m.is_dir(),
                    (FileTest::Exists, Ok(_)) => true,
                    (FileTest::Exec, Ok(m)) => {
                        use std::os::unix::fs::PermissionsExt;
                        m.is_file() && m.permissions().mode() & 0o111 != 0
                    }
                    (_, Err(_)) => false,
                };
                ok != *negate
            }
        }
    }
}

/// Computes a variable's value in the rewrite script; `Err` answers 500.
pub trait ScriptCall {
    fn call(&self, r: &mut crate::request::Request, args: &[String]) -> Result<Option<String>, ScriptFailed>;
}

/// A script step failed; the reason is already in the error log.
#[derive(Debug)]
pub struct ScriptFailed;

/// `rewrite regex replacement [last|break|redirect|permanent];`
fn rewrite_(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let pattern = cmd.arg(0);
    let re = b.regex(cmd, pattern, false)?;
    let replacement = b.template(cmd, cmd.arg(1))?;
    let flag = match cmd.args.get(2).map(|a| a.value.as_str()) {
        None => RewriteFlag::None,
        Some("last") => RewriteFlag::Last,
        Some("break") => RewriteFlag::Break,
        Some("redirect") => RewriteFlag::Redirect,
        Some("permanent") => RewriteFlag::Permanent,
        Some(f) => return Err(cmd.error(format!("invalid parameter \"{f}\""))),
    };
    push(
        b,
        ScriptOp::Rewrite(Rc::new(Rewrite {
            re: Arc::new(re),
            replacement,
            flag,
        })),
    );
    Ok(())
}

fn break_(b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    push(b, ScriptOp::Break);
    Ok(())
}

/// `if (condition) { ... }` in a server or a location.
fn if_(b: &mut HttpBuilder, cmd: &Cmd, reg: &Registry<HttpBuilder>) -> Result<()> {
    let cond = parse_condition(b, cmd)?;
    let in_server = b.depth() == 2;
    let ctx = if in_server { SIF } else { LIF };
    let mut draft = b.read_block(cmd, ctx, reg, LocDraft::default())?;
    let block = Rc::new(IfBlock {
        cond,
        ops: std::mem::take(&mut draft.conf::<Script>().0),
        loc: Rc::default(),
    });
    push(b, ScriptOp::If(block.clone()));
    if !in_server {
        b.loc().blocks.push((draft, block.loc.clone()));
    }
    Ok(())
}

/// nginx's `if` conditions: `$v`, `$v = x`, `$v != x`, `$v ~ re`, `~*`, `!~`, `!~*`,
/// `-f`/`-d`/`-e`/`-x` and their `!` forms.
fn parse_condition(b: &mut HttpBuilder, cmd: &Cmd) -> Result<Cond> {
    let mut words: Vec<String> = cmd.values().map(str::to_string).collect();
    let invalid = || {
        cmd.error(format!(
            "invalid condition \"{}\"",
            cmd.values().collect::<Vec<_>>().join(" ")
        ))
    };
    match words.first_mut() {
        Some(w) if w.starts_with('(') => {
            w.remove(0);
        }
        _ => return Err(invalid()),
    }
    match words.last_mut() {
        Some(w) if w.ends_with(')') => {
            w.pop();
        }
        _ => return Err(invalid()),
    }
    words.retain(|w| !w.is_empty());
    match words.as_slice() {
        [v] if v.starts_with('$') => Ok(Cond::Value(b.template(cmd, v)?)),
        [op, path] => {
            let (negate, op) = match op.strip_prefix('!') {
                Some(o) => (true, o),
                None => (false, op.as_str()),
            };
            let test = match op {
                "-f" => FileTest::File,
                "-d" => FileTest::Dir,
                "-e" => FileTest::Exists,
                "-x" => FileTest::Exec,
                _ => return Err(cmd.error(format!("unexpected \"{op}\" in condition"))),
            };
            Ok(Cond::File {
                test,
                path: b.template(cmd, path)?,
                negate,
            })
        }
        [left, op, right] if left.starts_with('$') => {
            let left = b.template(cmd, left)?;
            match op.as_str() {
                "=" | "!=" => Ok(Cond::Equals {
                    left,
                    right: b.template(cmd, right)?,
                    negate: op == "!=",
                }),
                "~" | "~*" | "!~" | "!~*" => {
                    let re = b.regex(cmd, right, op.ends_with('*'))?;
                    Ok(Cond::Regex {
                        left,
                        re: Arc::new(re),
                        negate: op.starts_with('!'),
                    })
                }
                _ => Err(cmd.error(format!("unexpected \"{op}\" in condition"))),
            }
        }
        _ => Err(invalid()),
    }
}

fn return_(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let first = cmd.arg(0);
    let ret = if cmd.args.len() == 1 && !first.bytes().all(|c| c.is_ascii_digit()) {
        if !(first.starts_with("http://") || first.starts_with("https://") || first.starts_with("$scheme")) {
            return Err(cmd.error(format!("invalid return code \"{first}\"")));
        }
        Return {
            code: 302,
            text: Some(b.template(cmd, first)?),
        }
    } else {
        let code = status_code(cmd, first)?;
        let text = if cmd.args.len() == 2 {
            Some(b.template(cmd, cmd.arg(1))?)
        } else {
            None
        };
        Return { code, text }
    };
    push(b, ScriptOp::Return(ret));
    Ok(())
}

/// `set $var value;`: declares the variable and sets it in the rewrite phase.
fn set(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    // the built-in variables nginx lets `set` change: the core's $args, modules' own
    let name = cmd.arg(0).to_ascii_lowercase();
    let setter = name.strip_prefix('$').and_then(|v| b.var_setter(v));
    let op = match (name.as_str(), setter) {
        ("$args", _) => ScriptOp::Set {
            var: "args".to_string(),
            value: b.template(cmd, cmd.arg(1))?,
        },
        (_, Some(set)) => ScriptOp::SetBuiltin {
            set,
            value: b.template(cmd, cmd.arg(1))?,
        },
        _ => ScriptOp::Set {
            var: b.declare_var(cmd, cmd.arg(0))?,
            value: b.template(cmd, cmd.arg(1))?,
        },
    };
    push(b, op);
    Ok(())
}

/// The rewrite module's script of a level: `set` and `return` in the order written.
pub struct ScriptHandler(pub Vec<ScriptOp>);

impl Handler for ScriptHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        match run_script(&self.0, r) {
            ScriptEnd::Next => Step::Ready(Flow::Next),
            ScriptEnd::Return(ret) => return_step(ret, r),
            ScriptEnd::Failed => Step::Ready(Flow::Finish(500)),
            ScriptEnd::Stop => Step::Ready(Flow::Next),
            ScriptEnd::Redirect(code, location) => {
                let loc = r.absolute_location(&location);
                r.headers_out.set("Location", loc);
                Step::Ready(Flow::Finish(code))
            }
        }
    }
}

/// How a script run ended.
enum ScriptEnd<'a> {
    /// Every step ran: on to the next handler.
    Next,
    /// A `return` ends the phase.
    Return(&'a Return),
    /// A step failed (logged): 500.
    Failed,
    /// `break` or a `rewrite ... last|break`: the script stops, the phase goes on.
    Stop,
    /// A `rewrite` to a URL: answer with this redirect.
    Redirect(u16, String),
}

/// Runs script steps in order, `if` blocks included.
fn run_script<'a>(ops: &'a [ScriptOp], r: &mut Request) -> ScriptEnd<'a> {
    for op in ops {
        match op {
            ScriptOp::Set { var, value } => {
                let v = value.render(r);
                match var.as_str() {
                    "args" => r.args = v,
                    _ => {
                        r.vars.insert(var.clone(), v);
                    }
                }
            }
            ScriptOp::SetBuiltin { set, value } => {
                let v = value.render(r);
                set(r, Some(&v));
            }
            ScriptOp::Return(ret) => return ScriptEnd::Return(ret),
            ScriptOp::Call { var, args, f } => {
                let args: Vec<String> = args.iter().map(|a| a.render(r)).collect();
                match f.call(r, &args) {
                    Ok(Some(v)) => {
                        r.vars.insert(var.clone(), v);
                    }
                    Ok(None) => {
                        crate::variables::unset(r, var);
                    }
                    Err(_) => return ScriptEnd::Failed,
                }
            }
            ScriptOp::Break => return ScriptEnd::Stop,
            ScriptOp::Rewrite(rw) => match rewrite(rw, r) {
                ScriptEnd::Next => {}
                end => return end,
            },
            ScriptOp::If(block) => {
                if block.cond.eval(r) {
                    if let Some(loc) = block.loc.get() {
                        r.loc = loc.clone();
                    }
                    match run_script(&block.ops, r) {
                        ScriptEnd::Next => {}
                        end => return end,
                    }
                }
            }
        }
    }
    ScriptEnd::Next
}

/// `rewrite`: on a match of the URI, the new URI (or a redirect for URLs and the
/// redirect/permanent flags); args carry over unless the replacement ends with `?`.
fn rewrite<'a>(rw: &Rewrite, r: &mut Request) -> ScriptEnd<'a> {
    let uri = r.uri.clone();
    if !r.capture(&rw.re, &uri) {
        return ScriptEnd::Next;
    }
    let mut target = rw.replacement.render(r);
    let absolute = target.starts_with("http://") || target.starts_with("https://");
    if absolute || matches!(rw.flag, RewriteFlag::Redirect | RewriteFlag::Permanent) {
        let keep_args = !target.ends_with('?') && !r.args.is_empty();
        if target.ends_with('?') {
            target.pop();
        } else if keep_args {
            target.push(if target.contains('?') { '&' } else { '?' });
            target.push_str(&r.args);
        }
        let code = if rw.flag == RewriteFlag::Permanent { 301 } else { 302 };
        return ScriptEnd::Redirect(code, target);
    }
    let drop_args = target.ends_with('?');
    if drop_args {
        target.pop();
    }
    match target.split_once('?') {
        Some((path, args)) => {
            let args = if r.args.is_empty() || drop_args {
                args.to_string()
            } else {
                format!("{args}&{}", r.args)
            };
            r.uri = path.to_string();
            r.args = args;
        }
        None => {
            r.uri = target;
            if drop_args {
                r.args.clear();
            }
        }
    }
    r.uri_rewritten = true;
    match rw.flag {
        RewriteFlag::Break => ScriptEnd::Stop,
        RewriteFlag::Last => {
            r.uri_changed = true;
            ScriptEnd::Stop
        }
        _ => {
            r.uri_changed = true;
            ScriptEnd::Next
        }
    }
}

fn return_step<'a>(ret: &'a Return, r: &'a mut Request) -> Step<'a> {
    // nginx drops the request body of a `return`: the answer does not wait for it
    if let Err(code) = r.discard_later() {
        return Step::Ready(Flow::Finish(code));
    }
    Step::Ready(do_return(ret, r))
}

fn do_return(ret: &Return, r: &mut Request) -> Flow {
    let code = ret.code;
    if code == 444 {
        r.keepalive = false;
        r.write_failed = true;
        return Flow::Finish(444);
    }
    let Some(text) = &ret.text else {
        return Flow::Finish(code);
    };
    if matches!(code, 301 | 302 | 303 | 307 | 308) {
        let loc = r.absolute_location(&text.render(r));
        r.headers_out.set("Location", loc);
        return Flow::Finish(code);
    }
    let rendered;
    let body = match text.literal() {
        Some(t) => t,
        None => {
            rendered = text.render(r);
            &rendered
        }
    };
    r.status = code;
    let ct = r.loc.settings.default_type();
    r.content_type = Some(ct);
    r.content_length = Some(body.len() as u64);
    r.buffer_body(body.as_bytes(), true);
    Flow::Done
}
