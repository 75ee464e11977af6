//! The phase engine: drives one request from server-rewrite to content, follows internal
//! redirects and error pages, then runs the log phase.

use crate::config::Overwrite;
use crate::log::Level;
use crate::phase::{self, Flow, LogStep};
use crate::request::Request;

/// nginx stops after this many internal redirects (NGX_HTTP_MAX_URI_CHANGES + 1).
const MAX_REDIRECTS: u8 = 10;

#[derive(Clone, Copy)]
enum Start {
    ServerRewrite,
    Rewrite,
}

/// Runs the request to its end (the response is fully out, or the connection is broken).
pub async fn run(r: &mut Request) {
    drive(r, None).await
}

/// Ends a request that was read but must not run its phases with `code` (nginx's
/// finalize before ngx_http_handler: 497 for plain HTTP to an ssl port, 495/496 for
/// client certificates), its `error_page` included.
pub async fn answer(r: &mut Request, code: u16) {
    drive(r, Some(code)).await
}

async fn drive(r: &mut Request, first: Option<u16>) {
    let mut start = Start::ServerRewrite;
    // a status to answer with before anything else (a header filter asks for one)
    let mut pending = first;
    loop {
        let flow = match pending.take() {
            Some(code) => Flow::Finish(code),
            None => {
                let flow = phases(r, start).await;
                filter_finalized(r, flow)
            }
        };
        let next = match flow {
            Flow::Finish(code) => {
                let next = finalize(r, code).await;
                filter_finalized(r, next)
            }
            other => other,
        };
        match next {
            Flow::Redirect(target) => {
                if let Some(f) = redirect_limit(r, &target) {
                    finalize_plain(r, f).await;
                    break;
                }
                let (path, args) = match target.split_once('?') {
                    Some((p, a)) => (p.to_string(), Some(a.to_string())),
                    None => (target.clone(), None),
                };
                r.uri = path;
                if let Some(a) = args {
                    r.args = a;
                }
                r.internal = true;
                r.filter_page = false;
                // as nginx, an internal redirect starts the modules' per-request state anew
                r.module_ctx.clear();
                start = Start::ServerRewrite;
            }
            Flow::Named(name) => {
                if let Some(f) = redirect_limit(r, &name) {
                    finalize_plain(r, f).await;
                    break;
                }
                match r.server.named.get(&name).cloned() {
                    Some(loc) => {
                        r.loc = loc;
                        r.internal = true;
                        r.filter_page = false;
                        r.module_ctx.clear();
                        start = Start::Rewrite;
                    }
                    None => {
                        r.log(Level::Error, &format!("could not find named location \"{name}\""));
                        finalize_plain(r, 500).await;
                        break;
                    }
                }
            }
            Flow::Finish(code) => pending = Some(code),
            _ => {
                // the end of the body runs the header filters when nothing was sent yet
                if !r.eof_sent && !r.write_failed {
                    r.send_body(&[], true).await;
                }
                match filter_finalized(r, Flow::Done) {
                    Flow::Finish(code) => pending = Some(code),
                    _ => break,
                }
            }
        }
    }
    r.flush().await;
    // (a subrequest is not logged, as nginx's log_subrequest off)
    if r.capture.is_some() {
        return;
    }
    log_from(r, 0);
}

/// Runs the location's log handlers from the `first`, until one waits (then kept in
/// `r.log_wait`).
fn log_from(r: &mut Request, first: usize) {
    r.logging = true;
    let loc = r.loc.clone();
    for (i, l) in loc.phases.log.iter().enumerate().skip(first) {
        if let LogStep::Wait(wait) = l.log(r) {
            r.log_wait = Some(Box::new((i + 1, wait)));
            return;
        }
    }
}

/// The log phase of a request whose handler waits, run to its end apart from its
/// connection (which has gone on: `r`'s stream is detached). A stopping worker waits for
/// it, as for a request.
pub async fn finish_log(mut r: Request) {
    let _busy = crate::worker::busy();
    while let Some(wait) = r.log_wait.take() {
        let (next, wait) = *wait;
        wait.finish(&mut r).await;
        log_from(&mut r, next);
    }
}

/// `flow`, unless a header filter asked to end the response with a status of its own
/// (nginx's filter finalize): then that status, answered like any other (error_page,
/// else the built-in page), and filters may not ask again for that page.
fn filter_finalized(r: &mut Request, flow: Flow) -> Flow {
    match r.filter_finalize.take() {
        Some(code) => {
            r.filter_page = true;
            Flow::Finish(code)
        }
        None => flow,
    }
}

fn redirect_limit(r: &mut Request, target: &str) -> Option<u16> {
    r.redirects += 1;
    if r.redirects > MAX_REDIRECTS {
        r.log(
            Level::Error,
            &format!("rewrite or internal redirection cycle while internally redirecting to \"{target}\""),
        );
        return Some(500);
    }
    None
}

/// Runs a phase's handlers: `None` goes on to the next phase, `Some` ends the walk.
/// (Callers skip empty lists: even an empty walk costs a future.)
async fn run_phase(list: &[std::rc::Rc<dyn phase::Handler>], r: &mut Request) -> Option<Flow> {
    for h in list {
        match phase::run(h.as_ref(), r).await {
            Flow::Next | Flow::Granted => continue,
            Flow::PhaseDone => return None,
            other => return Some(other),
        }
    }
    None
}

/// The rewrite phase. When an `if` takes the request into its block (the script switched
/// `r.loc`), the phase goes on with that block's handlers, as nginx's handlers then read
/// the block's configuration.
async fn run_rewrite(r: &mut Request) -> Option<Flow> {
    let mut loc = r.loc.clone();
    let mut i = 0;
    while let Some(h) = loc.phases.rewrite.get(i).cloned() {
        match phase::run(h.as_ref(), r).await {
            Flow::Next | Flow::Granted => {}
            Flow::PhaseDone => return None,
            other => return Some(other),
        }
        if std::rc::Rc::ptr_eq(&loc, &r.loc) {
            i += 1;
        } else {
            loc = r.loc.clone();
            i = 0;
        }
    }
    None
}

/// The access phase and its `satisfy`: under `all` every handler must let the request
/// through; under `any` one grant suffices, and a refusal (403, 401) is only recorded
/// until then, answered at the phase's end (nginx's access and post-access phases).
async fn run_access(list: &[std::rc::Rc<dyn phase::Handler>], r: &mut Request) -> Option<Flow> {
    let any = r.loc.settings.satisfy_any();
    let mut refused: Option<u16> = None;
    for h in list {
        match phase::run(h.as_ref(), r).await {
            Flow::Next => {}
            Flow::Granted if !any => {}
            Flow::Granted | Flow::PhaseDone => return None,
            Flow::Finish(code @ (401 | 403)) if any => {
                // a 401 (ask for credentials) is kept over a later 403
                if refused != Some(401) {
                    refused = Some(code);
                }
            }
            Flow::Finish(401) => return Some(Box::pin(auth_delayed(r)).await),
            other => return Some(other),
        }
    }
    let code = refused?;
    if code == 403 {
        r.log(Level::Error, "access forbidden by rule");
        return Some(Flow::Finish(403));
    }
    // (boxed: its timer would otherwise sit in every request's future)
    Some(Box::pin(auth_delayed(r)).await)
}

/// A 401, after `auth_delay` (against password guessing by timing).
async fn auth_delayed(r: &mut Request) -> Flow {
    let ms = r.loc.settings.auth_delay_ms();
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    Flow::Finish(401)
}

/// Finds the location for the URI (find-config), with nginx's checks that come with it.
fn find_config(r: &mut Request) -> Option<Flow> {
    let server = r.server.clone();
    match crate::find::location(&server.locations, &r.uri) {
        Some(l) => {
            if let crate::config::Match::Regex { re, .. } = &l.matcher {
                let uri = r.uri.clone();
                r.capture(re, &uri);
            }
            let hidden = l.internal && !r.internal;
            r.loc = match &l.limit_except {
                Some((methods, lim)) if !methods.iter().any(|m| *m == r.method) => lim.clone(),
                _ => l,
            };
            if hidden {
                return Some(Flow::Finish(404));
            }
        }
        None => r.loc = server.loc.clone(),
    }
    // nginx refuses a too large declared body as soon as the location is known
    if let crate::request::Framing::Length(n) = r.framing {
        let max = r.loc.settings.client_max_body_size();
        if max != 0 && n > max {
            r.log(
                Level::Error,
                &format!("client intended to send too large body: {n} bytes"),
            );
            r.keepalive = false;
            return Some(Flow::Finish(413));
        }
    }
    None
}

/// Runs nginx's phases from `start`: post-read (first pass only), server-rewrite,
/// find-config, rewrite, post-rewrite (back to find-config when the URI changed),
/// preaccess, access, precontent, content. Log runs in `run` once the response is out.
async fn phases(r: &mut Request, start: Start) -> Flow {
    let mut lookup = matches!(start, Start::ServerRewrite);
    if lookup {
        let server = r.server.clone();
        r.loc = server.loc.clone();
        if r.redirects == 0
            && !server.server_rewrite.post_read.is_empty()
            && let Some(f) = run_phase(&server.server_rewrite.post_read, r).await
        {
            return f;
        }
        if !server.server_rewrite.rewrite.is_empty()
            && let Some(f) = run_phase(&server.server_rewrite.rewrite, r).await
        {
            return f;
        }
        // a server-level rewrite changed the URI before any lookup: nothing to redo
        r.uri_changed = false;
    }
    loop {
        if lookup && let Some(f) = find_config(r) {
            return f;
        }
        if !r.loc.phases.rewrite.is_empty()
            && let Some(f) = run_rewrite(r).await
        {
            return f;
        }
        if !r.uri_changed {
            break;
        }
        r.uri_changed = false;
        let uri = r.uri.clone();
        if let Some(code) = redirect_limit(r, &uri) {
            return Flow::Finish(code);
        }
        lookup = true;
    }
    let loc = r.loc.clone();
    let t = &loc.phases;
    if !t.preaccess.is_empty()
        && let Some(f) = run_phase(&t.preaccess, r).await
    {
        return f;
    }
    if !t.access.is_empty()
        && let Some(f) = run_access(&t.access, r).await
    {
        return f;
    }
    if !t.precontent.is_empty()
        && let Some(f) = run_phase(&t.precontent, r).await
    {
        return f;
    }
    // try_files may have changed the URI without a redirect: serve it from here.
    let flow = match &t.content {
        Some(h) => phase::run(h.as_ref(), r).await,
        None => {
            // (a loop here, not `run_phase`: no future of its own for every static file)
            let mut answer = None;
            for h in &t.content_phase {
                let flow = match h.handle(r) {
                    phase::Step::Ready(Flow::Next) => continue,
                    phase::Step::Ready(flow) => flow,
                    phase::Step::Pending(fut) => fut.await,
                };
                if flow != Flow::Next {
                    answer = Some(flow);
                    break;
                }
            }
            match answer {
                Some(flow) => flow,
                None => nothing_answered(r),
            }
        }
    };
    match flow {
        Flow::Next | Flow::PhaseDone | Flow::Granted => Flow::Done,
        other => other,
    }
}

/// No content-phase handler answered: a directory is forbidden, anything else not found.
fn nothing_answered(r: &mut Request) -> Flow {
    if !r.uri.ends_with('/') {
        return Flow::Finish(404);
    }
    let dir = crate::files::map_uri(r, &r.uri);
    r.log(
        Level::Error,
        &format!("directory index of \"{}\" is forbidden", dir.display()),
    );
    Flow::Finish(403)
}

/// Ends the request with `code`: through an `error_page` if one applies, else the built-in
/// page. Returns the redirect to follow, or `Done`.
async fn finalize(r: &mut Request, code: u16) -> Flow {
    // 444: close without an answer; 499: the client closed first (nothing to answer)
    if code == 444 || code == 499 {
        r.keepalive = false;
        r.write_failed = true;
        r.status = code;
        r.eof_sent = true;
        return Flow::Done;
    }
    if code < 300 && code != 201 && code != 204 {
        if !r.header_sent {
            r.status = code;
            r.content_length = Some(0);
        }
        return Flow::Done;
    }
    if r.header_sent {
        // nothing more can be said: close the connection after what was sent
        r.keepalive = false;
        return Flow::Done;
    }
    // (before the error page: nginx's special response handler turns keepalive off for
    // these first, whatever page answers)
    if crate::status::closes_connection(code) {
        r.keepalive = false;
    }
    match error_page(r, code) {
        Some(Flow::Finish(c)) => {
            r.special_response(c).await;
            return Flow::Done;
        }
        Some(next) => return next,
        None => {}
    }
    r.special_response(code).await;
    Flow::Done
}

async fn finalize_plain(r: &mut Request, code: u16) {
    if !r.header_sent {
        r.special_response(code).await;
    } else {
        r.keepalive = false;
    }
}

fn error_page(r: &mut Request, code: u16) -> Option<Flow> {
    if r.error_page_used {
        return None;
    }
    let pages = r.loc.settings.error_pages();
    let page = pages.iter().find(|p| p.codes.contains(&code))?;
    // (with recursive_error_pages, an error page's own error may use one too: the
    // internal redirect limit ends a loop)
    r.error_page_used = !r.loc.settings.recursive_error_pages();
    let target = page.target.render(r);
    // (a 401's challenge stays for the page, as nginx keeps r->headers_out.www_authenticate)
    r.headers_out
        .list
        .retain(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"));
    r.err_status = match page.overwrite {
        Overwrite::Keep => code,
        Overwrite::To(c) => c,
        Overwrite::FromTarget => 0,
    };
    if target.starts_with('@') {
        return Some(Flow::Named(target));
    }
    if target.starts_with('/') {
        if r.method != "HEAD" {
            r.method = "GET".into();
        }
        return Some(Flow::Redirect(target));
    }
    // a URL: redirect the client
    let status = match page.overwrite {
        Overwrite::To(c @ (301 | 302 | 303 | 307 | 308)) => c,
        _ => 302,
    };
    r.err_status = 0;
    r.headers_out.set("Location", target);
    Some(Flow::Finish(status))
}
