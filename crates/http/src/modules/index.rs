//! nginx's index module: a directory URI (ending in `/`) is answered by an internal
//! redirect to the first of its `index` files that exists; a directory without one is
//! left to the next content-phase handlers (autoindex, else the core's 403).

use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once};

use crate::builder::{HttpBuilder, LocDraft};
use crate::files::{map_uri, open_failed, under_prefix};
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::value("index", HTTP | SRV | LOC, Args::AtLeast(1), index)];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_index_module", DIRECTIVES)
};

crate::settings! {
    pub struct IndexConf {
        index: Arc<[String]> = Arc::from(vec!["index.html".to_string()]),
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let names = d.ext.get::<IndexConf>().cloned().unwrap_or_default().index();
    t.content_phase.push(Rc::new(IndexHandler(names)));
    Ok(())
}

fn index(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    for v in cmd.values() {
        if v.is_empty() {
            return Err(cmd.error("index \"\" in \"index\" directive is invalid"));
        }
    }
    let list: Vec<String> = cmd.values().map(str::to_string).collect();
    set_once(&mut b.loc().conf::<IndexConf>().index, Arc::from(list), cmd)
}

struct IndexHandler(Arc<[String]>);

impl Handler for IndexHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if !r.uri.ends_with('/') {
            return Step::Ready(Flow::Next);
        }
        if !matches!(&*r.method, "GET" | "HEAD" | "POST") {
            return Step::Ready(Flow::Finish(405));
        }
        let dir = map_uri(r, &r.uri);
        for name in self.0.iter() {
            let candidate = if name.starts_with('/') {
                under_prefix(&r.http.prefix, &r.loc.settings.root().get(r), name)
            } else {
                dir.join(name)
            };
            if candidate.is_file() {
                let target = if name.starts_with('/') {
                    name.clone()
                } else {
                    format!("{}{name}", r.uri)
                };
                return Step::Ready(Flow::Redirect(target));
            }
        }
        // no index file: a directory goes on to the listing or the core's 403
        Step::Ready(match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Flow::Next,
            Ok(_) => Flow::Finish(404),
            Err(e) => open_failed(r, &dir, &e),
        })
    }
}
