//! `limit_rate` and `limit_rate_after`, and `$limit_rate`: how fast a response goes out.
//! The module gives each response its location's limit (a header filter, so that a
//! `$limit_rate` set while serving wins); the core's writer keeps to it, as nginx's write
//! filter does.

use std::rc::Rc;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once, value};

use crate::builder::{HttpBuilder, LocDraft};
use crate::module::{Module, Phases, Variable};
use crate::phase::HeaderFilter;
use crate::request::Request;

const CTX: conf::Ctx = HTTP | SRV | LOC | LIF;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("limit_rate", CTX, Args::Exactly(1), limit_rate),
    Directive::value("limit_rate_after", CTX, Args::Exactly(1), limit_rate),
];

pub static MODULE: Module = Module {
    install: Some(install),
    variables: &[Variable {
        name: "limit_rate",
        get,
        set: Some(set),
    }],
    ..Module::new("ngx_http_limit_rate_module", DIRECTIVES)
};

crate::settings! {
    pub struct LimitRateConf {
        /// Bytes per second after `limit_rate_after` bytes; 0: no limit.
        limit_rate: u64 = 0,
        limit_rate_after: u64 = 0,
    }
}

fn limit_rate(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::size(cmd, cmd.arg(0))?;
    let conf = b.loc().conf::<LimitRateConf>();
    if cmd.name == "limit_rate" {
        set_once(&mut conf.limit_rate, v, cmd)
    } else {
        set_once(&mut conf.limit_rate_after, v, cmd)
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<LimitRateConf>()
        && (conf.limit_rate() > 0 || conf.limit_rate_after() > 0)
    {
        t.header_filters.push(Rc::new(ApplyLimit {
            rate: conf.limit_rate(),
            after: conf.limit_rate_after(),
        }));
    }
    Ok(())
}

/// Gives the response its location's limit, unless `$limit_rate` set one.
struct ApplyLimit {
    rate: u64,
    after: u64,
}

impl HeaderFilter for ApplyLimit {
    fn filter(&self, r: &mut Request) {
        if r.limit_rate.is_none() {
            r.limit_rate = Some(self.rate);
        }
        r.limit_rate_after = self.after;
    }
}

/// `$limit_rate`: the response's limit, else its location's.
fn get(r: &Request) -> Option<String> {
    let configured = || r.loc.ext.get::<LimitRateConf>().map_or(0, LimitRateConf::limit_rate);
    Some(r.limit_rate.unwrap_or_else(configured).to_string())
}

/// A number of bytes per second, as nginx reads it (`100k` too); a bad one is logged and
/// changes nothing, as with nginx's size variables.
fn set(r: &mut Request, value: Option<&str>) {
    match value.and_then(conf::value::parse_size) {
        Some(rate) => r.limit_rate = Some(rate),
        None => r.log(
            crate::log::Level::Error,
            &format!("invalid size \"{}\"", value.unwrap_or("")),
        ),
    }
}
