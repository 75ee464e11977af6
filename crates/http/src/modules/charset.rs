//! nginx's charset module, its labelling half: `charset X;` adds `; charset=X` to the
//! Content-Type of responses whose type is in `charset_types`, unless one is given.
//! (Recoding between charsets, `source_charset` and `charset_map`, is not done.)

use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once};

use crate::builder::{HttpBuilder, LocDraft};
use crate::module::{Module, Phases};
use crate::phase::HeaderFilter;
use crate::request::Request;

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("charset", ANY_LOC | LIF, Args::Exactly(1), charset),
    Directive::value("charset_types", ANY_LOC, Args::AtLeast(1), charset_types),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_charset_filter_module", DIRECTIVES)
};

crate::settings! {
    pub struct CharsetConf {
        /// `None` is off.
        charset: Option<Arc<str>> = None,
        charset_types: Arc<[String]> = DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<CharsetConf>()
        && let Some(charset) = conf.charset()
    {
        t.header_filters.push(Rc::new(CharsetFilter {
            charset,
            types: conf.charset_types(),
        }));
    }
    Ok(())
}

/// `charset name | off;`
fn charset(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let charset = (v != "off").then(|| Arc::from(v));
    set_once(&mut b.loc().conf::<CharsetConf>().charset, charset, cmd)
}

/// `charset_types mime-type ...;` (`*`: any)
fn charset_types(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let types: Arc<[String]> = cmd.values().map(str::to_ascii_lowercase).collect();
    set_once(&mut b.loc().conf::<CharsetConf>().charset_types, types, cmd)
}

/// nginx's default `charset_types`.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/html",
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "application/rss+xml",
];

pub struct CharsetFilter {
    pub charset: Arc<str>,
    /// Lowercased media types; `*` is any.
    pub types: Arc<[String]>,
}

impl HeaderFilter for CharsetFilter {
    fn filter(&self, r: &mut Request) {
        let Some(ct) = r.content_type.as_deref() else {
            return;
        };
        if ct.to_ascii_lowercase().contains("charset=") {
            return;
        }
        let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        // (text/html is always labelled, as in nginx)
        if media == "text/html" || self.types.iter().any(|t| t == "*" || *t == media) {
            let labelled = format!("{ct}; charset={}", self.charset);
            r.content_type = Some(labelled.into());
        }
    }
}
