//! `try_files file ... uri|=code;`: the first file (or `dir/`) that exists is served;
//! else an internal redirect to the last argument, a named location or a status. It runs
//! in the precontent phase.

use std::rc::Rc;

use conf::registry::{LOC, SRV};
use conf::{Args, Cmd, Directive, Result};

use crate::builder::{HttpBuilder, LocDraft, status_code};
use crate::ext::ExtConf;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;
use crate::template::Template;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::value("try_files", SRV | LOC, Args::AtLeast(2), try_files)];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_try_files_module", DIRECTIVES)
};

#[derive(Clone, Debug)]
pub struct TryFiles {
    pub files: Vec<Template>,
    pub fallback: Template,
}

/// A location's `try_files` (its own: nested locations and `if` blocks do not inherit it).
#[derive(Clone, Default)]
struct TryFilesConf(Option<TryFiles>);

impl ExtConf for TryFilesConf {
    fn merge(&mut self, _parent: &Self) {}
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(TryFilesConf(Some(tf))) = d.ext.get::<TryFilesConf>() {
        t.precontent.push(Rc::new(TryFilesHandler(tf.clone())));
    }
    Ok(())
}

fn try_files(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if b.loc().conf::<TryFilesConf>().0.is_some() {
        return Err(cmd.duplicate());
    }
    let mut all: Vec<Template> = Vec::new();
    for v in cmd.values() {
        all.push(b.template(cmd, v)?);
    }
    let fallback = all.pop().expect("arity >= 2");
    if let Some(code) = fallback.source().strip_prefix('=') {
        status_code(cmd, code)?;
    }
    b.loc().conf::<TryFilesConf>().0 = Some(TryFiles { files: all, fallback });
    Ok(())
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
            let path = crate::files::map_uri(r, &probe);
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
