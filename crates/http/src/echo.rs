//! The echo module that OpenResty bundles, its content commands: `echo [-n] [--] text…`,
//! `echo_duplicate N text`, `echo_flush`, `echo_sleep S`, `echo_blocking_sleep S`,
//! `echo_exec location [args]`, and `echo_status` for the response status. A location's
//! commands run in order, as its content handler; the body goes out chunked.
//! (Subrequests, `echo_location` and the like, and the body filters are not here.)

use std::time::Duration;

use crate::ext::ExtConf;
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
}

/// `echo_status` (inherited; a location's commands are its own, in its draft).
#[derive(Clone, Default)]
pub struct EchoConf {
    pub status: Option<u16>,
}

impl ExtConf for EchoConf {
    fn merge(&mut self, parent: &Self) {
        if self.status.is_none() {
            self.status = parent.status;
        }
    }
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
        if let Err(code) = r.discard_body().await {
            return Flow::Finish(code);
        }
        if !r.header_sent {
            r.status = self.status;
            r.set_default_content_type();
        }
        for op in self.ops.iter() {
            match op {
                Op::Echo { words, newline } => {
                    let mut text = words.iter().map(|w| w.render(r)).collect::<Vec<_>>().join(" ");
                    if *newline {
                        text.push('\n');
                    }
                    r.buffer_body(text.as_bytes(), false);
                }
                Op::Duplicate { count, text } => {
                    let Ok(n) = count.render(r).trim().parse::<usize>() else {
                        r.log(crate::log::Level::Error, "echo_duplicate: invalid count");
                        return Flow::Finish(500);
                    };
                    let text = text.render(r).repeat(n);
                    r.buffer_body(text.as_bytes(), false);
                }
                Op::Flush => {
                    r.send_header();
                    r.flush().await;
                }
                Op::Sleep(d) => {
                    r.flush().await;
                    tokio::time::sleep(*d).await;
                }
                Op::BlockingSleep(d) => std::thread::sleep(*d),
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
        r.send_body(&[], true).await;
        Flow::Done
    }
}
