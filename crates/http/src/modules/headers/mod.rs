//! nginx's headers module (ngx_http_headers_filter_module): `add_header` and `expires`,
//! a header filter on successful responses.

pub mod expires;

use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once};

use crate::builder::{HttpBuilder, LocDraft, push_to};
use crate::module::{Module, Phases};
use crate::phase::HeaderFilter;
use crate::request::Request;
use crate::template::Template;
use expires::{Expires, ExpiresFilter};

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC | LIF;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("add_header", ANY_LOC, Args::Range(2, 3), add_header),
    Directive::value("expires", ANY_LOC, Args::Range(1, 2), expires),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_headers_filter_module", DIRECTIVES)
};

crate::settings! {
    pub struct HeadersConf {
        /// (a level with headers of its own does not inherit its parent's)
        add_headers: Arc<[AddHeader]> = Arc::from(Vec::new()),
        expires: Expires = Expires::Off,
    }
}

/// `add_header name value [always];`
#[derive(Clone, Debug)]
pub struct AddHeader {
    pub name: String,
    pub value: Template,
    pub always: bool,
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(conf) = d.ext.get::<HeadersConf>() else {
        return Ok(());
    };
    if !matches!(conf.expires(), Expires::Off) {
        t.header_filters.push(Rc::new(ExpiresFilter(conf.expires())));
    }
    let add = conf.add_headers();
    if !add.is_empty() {
        t.header_filters.push(Rc::new(AddHeaders(add)));
    }
    Ok(())
}

fn add_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let always = match cmd.args.get(2).map(|a| a.value.as_str()) {
        None => false,
        Some("always") => true,
        Some(v) => return Err(cmd.error(format!("invalid parameter \"{v}\""))),
    };
    let value = b.template(cmd, cmd.arg(1))?;
    let header = AddHeader {
        name: cmd.arg(0).to_string(),
        value,
        always,
    };
    push_to(&mut b.loc().conf::<HeadersConf>().add_headers, header);
    Ok(())
}

/// `expires [modified] time | @time | epoch | max | off | $variable;`
fn expires(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let args: Vec<&str> = cmd.values().collect();
    let rule = match expires::parse(&args).map_err(|msg| cmd.error(msg))? {
        Some(rule) => rule,
        None => Expires::Var {
            value: b.template(cmd, args[args.len() - 1])?,
            modified: args.len() == 2,
        },
    };
    set_once(&mut b.loc().conf::<HeadersConf>().expires, rule, cmd)
}

struct AddHeaders(Arc<[AddHeader]>);

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
