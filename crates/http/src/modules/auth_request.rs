//! nginx's auth_request module: access decided by a subrequest's status — 2xx lets the
//! request through, 401 and 403 are the answer (401 with the subrequest's
//! WWW-Authenticate), anything else is a 500, logged — and `auth_request_set`, variables
//! computed in the subrequest once it ends.

use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once};

use crate::builder::{HttpBuilder, LocDraft};
use crate::log::Level;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;
use crate::template::Template;

const CTX: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("auth_request", CTX, Args::Exactly(1), auth_request),
    Directive::value("auth_request_set", CTX, Args::Exactly(2), auth_request_set),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_auth_request_module", DIRECTIVES)
};

crate::settings! {
    pub struct AuthRequestConf {
        /// The subrequest's URI (`None`: off).
        auth_request: Option<Arc<str>> = None,
        /// `auth_request_set` variables, in order.
        auth_request_set: Arc<Vec<(String, Template)>> = Arc::new(Vec::new()),
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<AuthRequestConf>()
        && let Some(uri) = conf.auth_request()
    {
        t.access.push(Rc::new(AuthRequestHandler {
            uri,
            sets: conf.auth_request_set(),
        }));
    }
    Ok(())
}

/// `auth_request uri | off;`
fn auth_request(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let uri = (v != "off").then(|| Arc::from(v));
    set_once(&mut b.loc().conf::<AuthRequestConf>().auth_request, uri, cmd)
}

/// `auth_request_set $variable value;` (several per level, kept in order)
fn auth_request_set(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let var = b.declare_var(cmd, cmd.arg(0))?;
    let value = b.template(cmd, cmd.arg(1))?;
    let conf = b.loc().conf::<AuthRequestConf>();
    let mut sets = conf.auth_request_set.as_deref().cloned().unwrap_or_default();
    sets.push((var, value));
    conf.auth_request_set = Some(Arc::new(sets));
    Ok(())
}

struct AuthRequestHandler {
    uri: Arc<str>,
    sets: Arc<Vec<(String, Template)>>,
}

impl Handler for AuthRequestHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        Step::Pending(Box::pin(async move {
            let (path, args) = self.uri.split_once('?').unwrap_or((&self.uri, ""));
            let method = r.method.to_string();
            let mut sub = r.subrequest(&method, path, args, None);
            // (boxed: the subrequest runs the whole engine)
            Box::pin(crate::engine::run(&mut sub)).await;
            for (var, value) in self.sets.iter() {
                let v = value.render(&sub);
                r.vars.insert(var.clone(), v);
            }
            match sub.status {
                200..=299 => Flow::Granted,
                401 => {
                    if let Some(h) = sub.headers_out.get("www-authenticate") {
                        r.headers_out.set("WWW-Authenticate", h.to_string());
                    }
                    Flow::Finish(401)
                }
                403 => Flow::Finish(403),
                other => {
                    r.log(Level::Error, &format!("auth request unexpected status: {other}"));
                    Flow::Finish(500)
                }
            }
        }))
    }
}
