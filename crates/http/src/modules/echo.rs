//! The echo module that OpenResty bundles, its content commands: `echo [-n] [--] text…`,
//! `echo_duplicate N text`, `echo_flush`, `echo_sleep S`, `echo_blocking_sleep S`,
//! `echo_exec location [args]`, and `echo_status` for the response status. A location's
//! commands run in order, as its content handler; the body goes out chunked.
//! (Subrequests, `echo_location` and the like, and the body filters are not here.)

use std::time::Duration;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, ConfError, Directive, Result, value};

use crate::builder::{HttpBuilder, LocDraft};
use crate::ext::ExtConf;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;
use crate::template::Template;

#[derive(Clone)]
pub enum Op {
    /// The words, joined by spaces; `newline` unless `-n`.
    Echo {
        words: Vec<Template>,
        newline: bool,
    },
    Duplicate {
        count: Template,
        text: Template,
    },
    Flush,
    Sleep(Duration),
    BlockingSleep(Duration),
    Exec {
        target: Template,
        args: Option<Template>,
    },
    /// `echo_location(_async)`, `echo_subrequest(_async)`: a subrequest whose body is
    /// output here. The async forms run while the commands after them go on; their
    /// output, and everything after it, keeps its place (nginx's postpone filter).
    Subrequest {
        method: String,
        uri: Template,
        args: Option<Template>,
        body: Option<SubBody>,
        concurrent: bool,
    },
    /// `echo_read_request_body`.
    ReadBody,
    /// `echo_request_body`: the body read so far.
    RequestBody,
}

/// A subrequest's body: `-b TEXT`, or `-f FILE` (relative to the prefix).
#[derive(Clone, Debug)]
pub enum SubBody {
    Text(Template),
    File(Template),
}

/// A level's commands (its own: not inherited) and `echo_status` (inherited).
#[derive(Clone, Default)]
pub struct EchoConf {
    pub ops: Vec<Op>,
    pub status: Option<u16>,
}

impl ExtConf for EchoConf {
    fn merge(&mut self, parent: &Self) {
        if self.status.is_none() {
            self.status = parent.status;
        }
    }
}

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("echo", LOC | LIF, Args::AtLeast(0), echo),
    Directive::value("echo_duplicate", LOC | LIF, Args::Exactly(2), echo),
    Directive::value("echo_flush", LOC | LIF, Args::Exactly(0), echo),
    Directive::value("echo_sleep", LOC | LIF, Args::Exactly(1), echo),
    Directive::value("echo_blocking_sleep", LOC | LIF, Args::Exactly(1), echo),
    Directive::value("echo_exec", LOC | LIF, Args::Range(1, 2), echo),
    Directive::value("echo_location", LOC | LIF, Args::Range(1, 2), echo),
    Directive::value("echo_location_async", LOC | LIF, Args::Range(1, 2), echo),
    Directive::value("echo_subrequest", LOC | LIF, Args::AtLeast(2), echo),
    Directive::value("echo_subrequest_async", LOC | LIF, Args::AtLeast(2), echo),
    Directive::value("echo_read_request_body", LOC | LIF, Args::Exactly(0), echo),
    Directive::value("echo_request_body", LOC | LIF, Args::Exactly(0), echo),
    Directive::value("echo_status", ANY_LOC | LIF, Args::Exactly(1), echo_status),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_echo_module", DIRECTIVES)
};

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<EchoConf>()
        && !conf.ops.is_empty()
    {
        t.content = Some(std::rc::Rc::new(EchoHandler {
            ops: std::rc::Rc::new(conf.ops.clone()),
            status: conf.status.unwrap_or(200),
        }));
    }
    Ok(())
}

/// The echo module's commands (`echo`, `echo_duplicate`, `echo_flush`, `echo_sleep`,
/// `echo_blocking_sleep`, `echo_exec`), in the order written.
fn echo(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let args: Vec<&str> = cmd.values().collect();
    let time = |v: &str| seconds(v).ok_or_else(|| cmd.error(format!("invalid time value \"{v}\"")));
    let arity = || ConfError::Arity {
        name: cmd.name.clone(),
        at: cmd.at.clone(),
    };
    let op = match (cmd.name.as_str(), args.as_slice()) {
        ("echo", _) => {
            let (newline, skip) = echo_args(&args);
            let mut words = Vec::new();
            for w in &args[skip..] {
                words.push(b.template(cmd, w)?);
            }
            Op::Echo { words, newline }
        }
        ("echo_duplicate", [count, text]) => Op::Duplicate {
            count: b.template(cmd, count)?,
            text: b.template(cmd, text)?,
        },
        ("echo_flush", []) => Op::Flush,
        ("echo_sleep", [t]) => Op::Sleep(time(t)?),
        ("echo_blocking_sleep", [t]) => Op::BlockingSleep(time(t)?),
        ("echo_exec", [target, rest @ ..]) if rest.len() <= 1 => Op::Exec {
            target: b.template(cmd, target)?,
            args: match rest.first() {
                Some(a) => Some(b.template(cmd, a)?),
                None => None,
            },
        },
        ("echo_location" | "echo_location_async", [uri, rest @ ..]) => Op::Subrequest {
            method: "GET".into(),
            uri: b.template(cmd, uri)?,
            args: match rest.first() {
                Some(a) => Some(b.template(cmd, a)?),
                None => None,
            },
            body: None,
            concurrent: cmd.name.ends_with("_async"),
        },
        ("echo_subrequest" | "echo_subrequest_async", [method, uri, opts @ ..]) => {
            let (mut args, mut body) = (None, None);
            let mut it = opts.iter();
            while let Some(flag) = it.next() {
                let Some(v) = it.next() else {
                    return Err(cmd.error(format!("option {flag} takes a value")));
                };
                match *flag {
                    "-q" => args = Some(b.template(cmd, v)?),
                    "-b" => body = Some(SubBody::Text(b.template(cmd, v)?)),
                    "-f" => body = Some(SubBody::File(b.template(cmd, v)?)),
                    _ => return Err(cmd.error(format!("unknown option \"{flag}\""))),
                }
            }
            Op::Subrequest {
                method: method.to_ascii_uppercase(),
                uri: b.template(cmd, uri)?,
                args,
                body,
                concurrent: cmd.name.ends_with("_async"),
            }
        }
        ("echo_read_request_body", []) => Op::ReadBody,
        ("echo_request_body", []) => Op::RequestBody,
        _ => return Err(arity()),
    };
    b.loc().conf::<EchoConf>().ops.push(op);
    Ok(())
}

/// `echo_status code;`: the status of echo's responses.
fn echo_status(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let code = value::number(cmd, cmd.arg(0))?;
    if !(100..1000).contains(&code) {
        return Err(cmd.invalid_value(cmd.arg(0), ""));
    }
    let conf = b.loc().conf::<EchoConf>();
    conf.status = Some(code as u16);
    Ok(())
}

/// `echo`'s words: options first (`-n`, `--` ends them).
pub fn echo_args(args: &[&str]) -> (bool, usize) {
    let mut newline = true;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-n" => newline = false,
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    (newline, i)
}

/// A time in seconds, fractions allowed (`0.5`), as echo_sleep takes it.
pub fn seconds(v: &str) -> Option<Duration> {
    let s: f64 = v.parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s))
}

pub struct EchoHandler {
    pub ops: std::rc::Rc<Vec<Op>>,
    pub status: u16,
}

impl Handler for EchoHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        Step::Pending(Box::pin(self.run(r)))
    }
}

impl EchoHandler {
    async fn run(&self, r: &mut Request) -> Flow {
        // (the body is thrown away unless the commands read it)
        if !self.ops.iter().any(|o| matches!(o, Op::ReadBody))
            && let Err(code) = r.discard_later()
        {
            return Flow::Finish(code);
        }
        if !r.header_sent {
            r.status = self.status;
            r.set_default_content_type();
        }
        // output behind async subrequests still running waits for them, in order
        let mut held = Postponed::default();
        for op in self.ops.iter() {
            match op {
                Op::Echo { words, newline } => {
                    let mut text = words.iter().map(|w| w.render(r)).collect::<Vec<_>>().join(" ");
                    if *newline {
                        text.push('\n');
                    }
                    held.out(r, text.into_bytes());
                }
                Op::Duplicate { count, text } => {
                    let Ok(n) = count.render(r).trim().parse::<usize>() else {
                        r.log(crate::log::Level::Error, "echo_duplicate: invalid count");
                        return Flow::Finish(500);
                    };
                    let text = text.render(r).repeat(n);
                    held.out(r, text.into_bytes());
                }
                Op::Flush => {
                    r.send_header();
                    r.flush_filters();
                    r.flush().await;
                }
                Op::Sleep(d) => {
                    r.flush().await;
                    tokio::time::sleep(*d).await;
                }
                Op::BlockingSleep(d) => std::thread::sleep(*d),
                Op::Subrequest {
                    method,
                    uri,
                    args,
                    body,
                    concurrent,
                } => {
                    let uri = uri.render(r);
                    let (path, mut query) = match uri.split_once('?') {
                        Some((p, q)) => (p.to_string(), q.to_string()),
                        None => (uri, String::new()),
                    };
                    if let Some(a) = args {
                        let a = a.render(r);
                        query = if query.is_empty() { a } else { format!("{query}&{a}") };
                    }
                    let body = match body {
                        None => None,
                        Some(SubBody::Text(t)) => Some(t.render(r).into_bytes()),
                        Some(SubBody::File(f)) => {
                            let path = r.http.prefix.join(f.render(r));
                            match std::fs::read(&path) {
                                Ok(b) => Some(b),
                                Err(e) => {
                                    let why = conf::errno_text(&e);
                                    r.log(
                                        crate::log::Level::Error,
                                        &format!("open() \"{}\" failed ({why})", path.display()),
                                    );
                                    return Flow::Finish(500);
                                }
                            }
                        }
                    };
                    let mut sub = r.subrequest(method, &path, &query, body);
                    let run = async move {
                        // (boxed: the subrequest runs the whole engine)
                        Box::pin(crate::engine::run(&mut sub)).await;
                        sub.capture.take().unwrap_or_default()
                    };
                    if *concurrent {
                        held.start(run);
                    } else {
                        let out = run.await;
                        held.out(r, out);
                    }
                }
                Op::ReadBody => {
                    if let Err(code) = r.read_body().await {
                        return Flow::Finish(code);
                    }
                }
                Op::RequestBody => {
                    if let Some(b) = r.body_bytes().map(<[u8]>::to_vec) {
                        held.out(r, b);
                    }
                }
                Op::Exec { target, args } => {
                    if r.header_sent {
                        r.log(crate::log::Level::Error, "echo_exec is used after headers were sent");
                        return Flow::Finish(500);
                    }
                    let mut target = target.render(r);
                    if let Some(a) = args {
                        target.push('?');
                        target.push_str(&a.render(r));
                    }
                    return if target.starts_with('@') {
                        Flow::Named(target.split('?').next().unwrap_or("").to_string())
                    } else {
                        Flow::Redirect(target)
                    };
                }
            }
        }
        held.drain(r).await;
        r.send_body(&[], true).await;
        Flow::Done
    }
}

/// Output waiting behind async subrequests (their tasks are aborted if the request goes
/// before they end).
#[derive(Default)]
struct Postponed {
    queue: std::collections::VecDeque<Held>,
}

enum Held {
    Sub(AbortOnDrop),
    Bytes(Vec<u8>),
}

struct AbortOnDrop(tokio::task::JoinHandle<Vec<u8>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Postponed {
    /// Output now, or behind what is held.
    fn out(&mut self, r: &mut Request, bytes: Vec<u8>) {
        if self.queue.is_empty() {
            r.buffer_body(&bytes, false);
        } else {
            self.queue.push_back(Held::Bytes(bytes));
        }
    }

    /// Starts an async subrequest; its output comes in its place.
    fn start(&mut self, run: impl std::future::Future<Output = Vec<u8>> + 'static) {
        self.queue
            .push_back(Held::Sub(AbortOnDrop(tokio::task::spawn_local(run))));
    }

    /// Everything held, in order, once each subrequest ends.
    async fn drain(&mut self, r: &mut Request) {
        while let Some(item) = self.queue.pop_front() {
            let bytes = match item {
                Held::Bytes(b) => b,
                Held::Sub(mut h) => (&mut h.0).await.unwrap_or_default(),
            };
            r.buffer_body(&bytes, false);
        }
    }
}
