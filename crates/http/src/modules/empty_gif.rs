//! nginx's empty_gif module: `empty_gif;` makes a location answer with a transparent
//! 1x1 GIF.

use std::rc::Rc;

use conf::registry::LOC;
use conf::{Args, Cmd, Directive, Result};

use crate::builder::{HttpBuilder, LocDraft};
use crate::ext::ExtConf;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::value("empty_gif", LOC, Args::Exactly(0), empty_gif)];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_empty_gif_module", DIRECTIVES)
};

/// `empty_gif` in this location (a content handler: not inherited).
#[derive(Clone, Default)]
struct EmptyGifConf(bool);

impl ExtConf for EmptyGifConf {
    fn merge(&mut self, _parent: &Self) {}
}

fn empty_gif(b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    b.loc().conf::<EmptyGifConf>().0 = true;
    Ok(())
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if d.ext.get::<EmptyGifConf>().is_some_and(|c| c.0) {
        t.content = Some(Rc::new(EmptyGif));
    }
    Ok(())
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
        if let Err(code) = r.discard_later() {
            return Step::Ready(Flow::Finish(code));
        }
        Step::Pending(Box::pin(async move {
            r.status = 200;
            r.content_type = Some(std::sync::Arc::from("image/gif"));
            r.headers_out.set("Last-Modified", "Mon, 28 Sep 1970 06:00:00 GMT");
            r.respond(EMPTY_GIF).await;
            Flow::Done
        }))
    }
}
