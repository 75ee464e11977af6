//! The headers-more module that OpenResty bundles: `more_set_headers` and
//! `more_clear_headers` rewrite the response headers (built-in ones too: Server, Date,
//! Content-Type, Content-Length) for every status, optionally only for some statuses
//! (`-s`) and content types (`-t`); `more_set_input_headers` (`-r`: only those present)
//! and `more_clear_input_headers` rewrite the request's at the end of the rewrite phase.
//! Commands of outer levels run before a level's own, in the order written.

use std::rc::Rc;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, Directive, Result};

use crate::builder::{HttpBuilder, LocDraft};
use crate::ext::ExtConf;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, HeaderFilter, Step};
use crate::request::Request;
use crate::template::Template;

const CTX: conf::Ctx = HTTP | SRV | LOC | LIF;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("more_set_headers", CTX, Args::AtLeast(1), more_headers),
    Directive::value("more_clear_headers", CTX, Args::AtLeast(1), more_headers),
    Directive::value("more_set_input_headers", CTX, Args::AtLeast(1), more_headers),
    Directive::value("more_clear_input_headers", CTX, Args::AtLeast(1), more_headers),
];

/// (Listed after the Lua module, so that its output filter sees the headers the others,
/// Lua's header filters too, have set, as in OpenResty.)
pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_headers_more_filter_module", DIRECTIVES)
};

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(more) = d.ext.get::<MoreHeaders>() else {
        return Ok(());
    };
    if !more.input.is_empty() {
        t.rewrite.push(Rc::new(InputHandler(more.input.clone())));
    }
    if !more.output.is_empty() {
        t.header_filters.push(Rc::new(OutputFilter(more.output.clone())));
    }
    Ok(())
}

/// `more_set_headers`, `more_clear_headers`, `more_set_input_headers`,
/// `more_clear_input_headers`.
fn more_headers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let input = cmd.name.contains("_input_");
    let c = Rc::new(command(cmd, input, |v| b.template(cmd, v))?);
    let more = b.loc().conf::<MoreHeaders>();
    if input {
        more.input.push(c);
    } else {
        more.output.push(c);
    }
    Ok(())
}

/// One directive: which headers, to what, and when.
pub struct Command {
    headers: Vec<(String, Option<Template>)>,
    statuses: Vec<u16>,
    /// Lowercased media types (`text/html`), compared without parameters.
    types: Vec<String>,
    /// `-r`: replace request headers only where they exist.
    replace_only: bool,
}

/// A level's commands, after the outer levels' ones.
#[derive(Clone, Default)]
pub struct MoreHeaders {
    pub output: Vec<Rc<Command>>,
    pub input: Vec<Rc<Command>>,
}

impl ExtConf for MoreHeaders {
    fn merge(&mut self, parent: &Self) {
        self.output.splice(0..0, parent.output.iter().cloned());
        self.input.splice(0..0, parent.input.iter().cloned());
    }
}

/// Reads a directive's options and header specs (`Name: value`, `Name:`, `Name`).
/// `template` compiles a value (and records its variables for the configuration check).
pub fn command(
    cmd: &Cmd,
    input: bool,
    mut template: impl FnMut(&str) -> conf::Result<Template>,
) -> conf::Result<Command> {
    let clear = cmd.name.contains("clear");
    let mut c = Command {
        headers: Vec::new(),
        statuses: Vec::new(),
        types: Vec::new(),
        replace_only: false,
    };
    let mut args = cmd.values();
    while let Some(arg) = args.next() {
        match arg {
            "-s" | "-t" if !(input && arg == "-s") => {
                let Some(list) = args.next() else {
                    return Err(cmd.error(format!("{arg} requires an argument")));
                };
                for item in list.split_ascii_whitespace() {
                    if arg == "-t" {
                        c.types.push(item.to_ascii_lowercase());
                    } else {
                        match item.parse::<u16>() {
                            Ok(code) if (100..1000).contains(&code) => c.statuses.push(code),
                            _ => return Err(cmd.error(format!("status code value is invalid: \"{item}\""))),
                        }
                    }
                }
            }
            "-r" if input && !clear => c.replace_only = true,
            _ if arg.starts_with('-') && arg.len() > 1 => {
                return Err(cmd.error(format!("invalid option name: \"{arg}\"")));
            }
            spec => {
                let (name, value) = match spec.split_once(':') {
                    Some((n, v)) if !clear => (n.trim(), Some(v.trim())),
                    Some((n, _)) => (n.trim(), None),
                    None => (spec.trim(), None),
                };
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(cmd.error(format!("invalid header name: \"{spec}\"")));
                }
                let value = match value {
                    Some(v) if !v.is_empty() => Some(template(v)?),
                    _ => None,
                };
                c.headers.push((name.to_string(), value));
            }
        }
    }
    if c.headers.is_empty() {
        return Err(cmd.error("no header specified".to_string()));
    }
    Ok(c)
}

/// The media type of a Content-Type value, lowercased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

impl Command {
    fn applies(&self, status: Option<u16>, content_type: Option<&str>) -> bool {
        let status_ok = self.statuses.is_empty() || status.is_some_and(|s| self.statuses.contains(&s));
        let type_ok = self.types.is_empty() || content_type.is_some_and(|ct| self.types.contains(&media_type(ct)));
        status_ok && type_ok
    }
}

/// `Name*`: every header whose name starts with `Name`.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        // (`get`: a name from Lua may hold any bytes, a prefix may end inside a character)
        Some(prefix) => name.get(..prefix.len()).is_some_and(|n| n.eq_ignore_ascii_case(prefix)),
        None => name.eq_ignore_ascii_case(pattern),
    }
}

/// The output half: a header filter, run after the others of the location.
struct OutputFilter(Vec<Rc<Command>>);

impl HeaderFilter for OutputFilter {
    fn filter(&self, r: &mut Request) {
        for c in &self.0 {
            if !c.applies(Some(r.status), r.content_type.as_deref()) {
                continue;
            }
            for (name, value) in &c.headers {
                let value = value.as_ref().map(|t| t.render(r)).filter(|v| !v.is_empty());
                set_output(r, name, value);
            }
        }
    }
}

fn set_output(r: &mut Request, name: &str, value: Option<String>) {
    if name.eq_ignore_ascii_case("content-type") {
        r.content_type = value.map(Into::into);
        r.content_type_set = true;
        return;
    }
    if name.eq_ignore_ascii_case("content-length") {
        // (a value that is not a length is not a Content-Length: it is dropped)
        r.content_length = value.and_then(|v| v.parse().ok());
        return;
    }
    r.headers_out.list.retain(|(n, _)| !name_matches(name, n));
    match value {
        Some(v) => r.headers_out.add(name, v),
        // the built-in Server and Date go out unless an empty entry says they are cleared
        None if name.eq_ignore_ascii_case("server") || name.eq_ignore_ascii_case("date") => {
            r.headers_out.add(name, String::new())
        }
        None => {}
    }
}

/// The input half: a rewrite-phase handler.
struct InputHandler(Vec<Rc<Command>>);

impl Handler for InputHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        for c in &self.0 {
            let content_type = r.headers_in.get("content-type").map(str::to_string);
            if !c.applies(None, content_type.as_deref()) {
                continue;
            }
            for (name, value) in &c.headers {
                let present = r.headers_in.list.iter().any(|(n, _)| name_matches(name, n));
                if c.replace_only && !present {
                    continue;
                }
                let value = value.as_ref().map(|t| t.render(r)).filter(|v| !v.is_empty());
                r.headers_in.list.retain(|(n, _)| !name_matches(name, n));
                if let Some(v) = value {
                    r.headers_in.add(name, v);
                }
                if name.eq_ignore_ascii_case("host") {
                    r.host = r.headers_in.get("host").and_then(crate::h1::validate_host);
                }
            }
        }
        Step::Ready(Flow::Next)
    }
}
