//! The http core's own phase handlers: `return` (rewrite), `try_files` (precontent) and
//! `add_header` (header filter).

use crate::config::{AddHeader, Return, Rewrite, RewriteFlag, ScriptOp, TryFiles};
use crate::phase::{Flow, Handler, HeaderFilter, Step};
use crate::request::{Body, Framing, Request};

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
                    "limit_rate" => match conf::value::parse_size(&v) {
                        Some(rate) => r.limit_rate = Some(rate),
                        None => r.log(crate::log::Level::Error, &format!("invalid size \"{v}\"")),
                    },
                    _ => {
                        r.vars.insert(var.clone(), v);
                    }
                }
            }
            ScriptOp::Return(ret) => return ScriptEnd::Return(ret),
            ScriptOp::Call { var, args, f } => {
                let args: Vec<String> = args.iter().map(|a| a.render(r)).collect();
                match f.call(r, &args) {
                    Ok(Some(v)) => {
                        r.vars.insert(var.clone(), v);
                    }
                    Ok(None) => {
                        r.vars.remove(var);
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
    // nginx drops the request body of a `return`; with none to read, answer at once
    if r.framing == Framing::None || !matches!(r.body, Body::Unread) {
        return Step::Ready(do_return(ret, r));
    }
    Step::Pending(Box::pin(async move {
        if let Err(code) = r.discard_body().await {
            return Flow::Finish(code);
        }
        do_return(ret, r)
    }))
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

pub struct TryFilesHandler(pub TryFiles);

impl Handler for TryFilesHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        for t in &self.0.files {
            let uri = t.render(r);
            let (dir_wanted, probe) = match uri.strip_suffix('/') {
                Some(d) if !d.is_empty() => (true, d.to_string()),
                _ => (false, uri.clone()),
            };
            let path = crate::static_file::map_uri(r, &probe);
            let ok = match std::fs::metadata(&path) {
                Ok(m) => m.is_dir() == dir_wanted,
                Err(_) => false,
            };
            if ok {
                if !dir_wanted {
                    r.uri = uri;
                }
                return Step::Ready(Flow::PhaseDone);
            }
        }
        let fallback = self.0.fallback.render(r);
        if let Some(code) = fallback.strip_prefix('=') {
            return Step::Ready(Flow::Finish(code.parse().unwrap_or(500)));
        }
        if fallback.starts_with('@') {
            return Step::Ready(Flow::Named(fallback));
        }
        Step::Ready(Flow::Redirect(fallback))
    }
}

pub struct AddHeaders(pub std::sync::Arc<[AddHeader]>);

impl HeaderFilter for AddHeaders {
    fn filter(&self, r: &mut Request) {
        let ok_status = matches!(r.status, 200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308);
        for h in self.0.iter() {
            if !h.always && !ok_status {
                continue;
            }
            let v = h.value.render(r);
            if !v.is_empty() {
                r.headers_out.add(&h.name, v);
            }
        }
    }
}

/// `empty_gif`: a transparent 1x1 GIF, as nginx serves it (with its fixed Last-Modified,
/// so conditional requests get a 304).
pub struct EmptyGif;

const EMPTY_GIF: &[u8] = &[
    b'G', b'I', b'F', b'8', b'9', b'a', 0x01, 0x00, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

impl Handler for EmptyGif {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if r.method != "GET" && r.method != "HEAD" {
            return Step::Ready(Flow::Finish(405));
        }
        Step::Pending(Box::pin(async move {
            if let Err(code) = r.discard_body().await {
                return Flow::Finish(code);
            }
            r.status = 200;
            r.content_type = Some(std::sync::Arc::from("image/gif"));
            r.headers_out.set("Last-Modified", "Mon, 28 Sep 1970 06:00:00 GMT");
            r.respond(EMPTY_GIF).await;
            Flow::Done
        }))
    }
}
