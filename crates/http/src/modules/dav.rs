//! nginx's dav module: `dav_methods PUT DELETE MKCOL COPY MOVE` lets clients write files
//! under the location's root (`create_full_put_path`, `dav_access`, `min_delete_depth`).
//! A content-phase handler: the methods it is given are its own, the others go on to
//! the static handler.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use conf::registry::{HTTP, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once, value};

use crate::builder::{HttpBuilder, LocDraft};
use crate::files::map_uri;
use crate::log::Level;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::{Body, Framing, Request};

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("dav_methods", ANY_LOC, Args::AtLeast(1), dav_methods),
    Directive::value("create_full_put_path", ANY_LOC, Args::Flag, create_full_put_path),
    Directive::value("dav_access", ANY_LOC, Args::Range(1, 3), dav_access),
    Directive::value("min_delete_depth", ANY_LOC, Args::Exactly(1), min_delete_depth),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_dav_module", DIRECTIVES)
};

const PUT: u8 = 1;
const DELETE: u8 = 2;
const MKCOL: u8 = 4;
const COPY: u8 = 8;
const MOVE: u8 = 16;

crate::settings! {
    pub struct DavConf {
        /// The methods allowed (bits); 0: off.
        methods: u8 = 0,
        create_full_put_path: bool = false,
        /// Permissions of what is created (`user:rw` by default).
        access: u32 = 0o600,
        min_delete_depth: u64 = 0,
    }
}

fn dav_methods(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut methods = 0;
    for v in cmd.values() {
        methods |= match v {
            "off" if cmd.args.len() == 1 => 0,
            "put" | "PUT" => PUT,
            "delete" | "DELETE" => DELETE,
            "mkcol" | "MKCOL" => MKCOL,
            "copy" | "COPY" => COPY,
            "move" | "MOVE" => MOVE,
            _ => return Err(cmd.invalid_value(v, "")),
        };
    }
    set_once(&mut b.loc().conf::<DavConf>().methods, methods, cmd)
}

fn create_full_put_path(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().conf::<DavConf>().create_full_put_path, v, cmd)
}

/// `dav_access [user:rw|r] [group:rw|r] [all:rw|r]`
fn dav_access(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut mode = 0o600;
    for v in cmd.values() {
        let (who, what) = v.split_once(':').ok_or_else(|| cmd.invalid_value(v, ""))?;
        let shift = match who {
            "user" => 6,
            "group" => 3,
            "all" => 0,
            _ => return Err(cmd.invalid_value(v, "")),
        };
        let bits = match what {
            "rw" => 6,
            "r" => 4,
            _ => return Err(cmd.invalid_value(v, "")),
        };
        if who == "user" {
            mode &= !0o700;
        }
        mode |= bits << shift;
    }
    set_once(&mut b.loc().conf::<DavConf>().access, mode, cmd)
}

fn min_delete_depth(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::number(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().conf::<DavConf>().min_delete_depth, v, cmd)
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<DavConf>()
        && conf.methods() != 0
    {
        t.content_phase.push(Rc::new(DavHandler(conf.clone())));
    }
    Ok(())
}

struct DavHandler(DavConf);

impl Handler for DavHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        let method = match &*r.method {
            "PUT" => PUT,
            "DELETE" => DELETE,
            "MKCOL" => MKCOL,
            "COPY" => COPY,
            "MOVE" => MOVE,
            _ => return Step::Ready(Flow::Next),
        };
        if self.0.methods() & method == 0 {
            return Step::Ready(Flow::Next);
        }
        let conf = &self.0;
        Step::Pending(Box::pin(async move {
            let flow = match method {
                PUT => put(r, conf).await,
                DELETE => delete(r, conf).await,
                MKCOL => mkcol(r, conf).await,
                _ => copy_move(r, conf, method == MOVE).await,
            };
            match flow {
                Ok(code) => answer(r, code).await,
                Err(code) => Flow::Finish(code),
            }
        }))
    }
}

/// A request that comes with a body (an empty Content-Length is none).
fn has_body(r: &Request) -> bool {
    matches!(r.framing, Framing::Length(n) if n > 0) || r.framing == Framing::Chunked
}

/// A header-only answer (201 with its Location where a resource was made, 204).
async fn answer(r: &mut Request, code: u16) -> Flow {
    r.status = code;
    if code == 201 {
        r.content_length = Some(0);
    }
    r.send_body(&[], true).await;
    Flow::Done
}

/// The status for a failed file operation, logged as nginx logs it.
fn failed(r: &mut Request, what: &str, path: &Path, e: &std::io::Error) -> u16 {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => 404,
        std::io::ErrorKind::PermissionDenied => 403,
        std::io::ErrorKind::AlreadyExists => 405,
        _ if e.raw_os_error() == Some(libc::ENOTDIR) => 409,
        _ => 500,
    };
    let level = if code == 404 { Level::Error } else { Level::Crit };
    r.log(
        level,
        &format!("{what} \"{}\" failed ({})", path.display(), conf::errno_text(e)),
    );
    code
}

async fn put(r: &mut Request, conf: &DavConf) -> std::result::Result<u16, u16> {
    if r.uri.ends_with('/') {
        r.log(Level::Error, "cannot PUT to a collection");
        return Err(409);
    }
    if r.header_in("content-range").is_some() {
        r.log(Level::Error, "PUT with range is unsupported");
        return Err(501);
    }
    r.read_body().await?;
    let path = map_uri(r, &r.uri);
    let existed = path.exists();
    if conf.create_full_put_path()
        && let Some(dir) = path.parent()
        && let Err(e) = create_dirs(dir, dir_mode(conf.access()))
    {
        return Err(failed(r, "mkdir()", dir, &e));
    }
    // (the body goes in whole by a rename, so that no reader sees half of it)
    let written = match std::mem::take(&mut r.body) {
        Body::File(tmp, _) => rename_into(&tmp.0, &path).map_err(|e| (tmp.0.clone(), e)),
        Body::Memory(bytes) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = path.with_file_name(format!(".{name}.{}.put", std::process::id()));
            let done = std::fs::write(&tmp, &bytes).and_then(|()| rename_into(&tmp, &path));
            if done.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            done.map_err(|e| (tmp, e))
        }
        _ => Ok(()),
    };
    if let Err((tmp, e)) = written {
        r.log(
            Level::Crit,
            &format!(
                "rename() \"{}\" to \"{}\" failed ({})",
                tmp.display(),
                path.display(),
                conf::errno_text(&e)
            ),
        );
        return Err(500);
    }
    set_mode(&path, conf.access());
    if existed {
        return Ok(204);
    }
    set_location(r);
    Ok(201)
}

/// Renames `from` to `to`; across file systems, copies and removes.
fn rename_into(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            std::fs::copy(from, to)?;
            std::fs::remove_file(from)
        }
        other => other,
    }
}

async fn delete(r: &mut Request, conf: &DavConf) -> std::result::Result<u16, u16> {
    if has_body(r) {
        r.log(Level::Error, "DELETE with body is unsupported");
        return Err(415);
    }
    let depth = r.uri.trim_end_matches('/').matches('/').count() as u64;
    if depth < conf.min_delete_depth() {
        r.log(Level::Error, &format!("insufficient URI depth:{depth} to DELETE"));
        return Err(400);
    }
    let path = map_uri(r, &r.uri);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) => return Err(failed(r, "lstat()", &path, &e)),
    };
    if meta.is_dir() {
        if !r.uri.ends_with('/') {
            r.log(
                Level::Error,
                &format!("DELETE \"{}\" failed (21: Is a directory)", path.display()),
            );
            return Err(409);
        }
        if !matches!(r.header_in("depth"), None | Some("infinity")) {
            r.log(Level::Error, "\"Depth\" header must be infinity");
            return Err(400);
        }
        if let Err(e) = std::fs::remove_dir_all(&path) {
            return Err(failed(r, "rmdir()", &path, &e));
        }
    } else {
        if r.uri.ends_with('/') {
            r.log(
                Level::Error,
                &format!("DELETE \"{}\" failed (20: Not a directory)", path.display()),
            );
            return Err(409);
        }
        if !matches!(r.header_in("depth"), None | Some("0") | Some("infinity")) {
            r.log(Level::Error, "\"Depth\" header must be 0 or infinity");
            return Err(400);
        }
        if let Err(e) = std::fs::remove_file(&path) {
            return Err(failed(r, "unlink()", &path, &e));
        }
    }
    Ok(204)
}

async fn mkcol(r: &mut Request, conf: &DavConf) -> std::result::Result<u16, u16> {
    if has_body(r) {
        r.log(Level::Error, "MKCOL with body is unsupported");
        return Err(415);
    }
    if !r.uri.ends_with('/') {
        r.log(Level::Error, "MKCOL can create a collection only");
        return Err(409);
    }
    let path = map_uri(r, &r.uri);
    let dir = PathBuf::from(path.to_string_lossy().trim_end_matches('/'));
    if let Err(e) = std::fs::create_dir(&dir) {
        let code = failed(r, "mkdir()", &dir, &e);
        return Err(if code == 404 { 409 } else { code });
    }
    set_mode(&dir, dir_mode(conf.access()));
    set_location(r);
    Ok(201)
}

async fn copy_move(r: &mut Request, conf: &DavConf, moving: bool) -> std::result::Result<u16, u16> {
    if has_body(r) {
        let what = if moving { "MOVE" } else { "COPY" };
        r.log(Level::Error, &format!("{what} with body is unsupported"));
        return Err(415);
    }
    let Some(dest) = r.header_in("destination").map(str::to_string) else {
        r.log(Level::Error, "client sent no \"Destination\" header");
        return Err(400);
    };
    let Some(dest_uri) = destination_uri(r, &dest) else {
        return Err(400);
    };
    if r.uri.ends_with('/') != dest_uri.ends_with('/') {
        r.log(
            Level::Error,
            &format!(
                "both URI \"{}\" and \"Destination\" URI \"{dest}\" should be either collections or non-collections",
                r.uri
            ),
        );
        return Err(409);
    }
    let depth = r.header_in("depth").map(str::to_string);
    let shallow = match depth.as_deref() {
        None | Some("infinity") => false,
        Some("0") if !moving => true,
        _ => {
            let want = if moving { "infinity" } else { "0 or infinity" };
            r.log(Level::Error, &format!("\"Depth\" header must be {want}"));
            return Err(400);
        }
    };
    let overwrite = match r.header_in("overwrite") {
        None | Some("T") | Some("t") => true,
        Some("F") | Some("f") => false,
        Some(other) => {
            let other = other.to_string();
            r.log(
                Level::Error,
                &format!("client sent invalid \"Overwrite\" header: \"{other}\""),
            );
            return Err(400);
        }
    };
    let from = map_uri(r, &r.uri);
    let to = map_uri(r, &dest_uri);
    let from = PathBuf::from(from.to_string_lossy().trim_end_matches('/'));
    let to = PathBuf::from(to.to_string_lossy().trim_end_matches('/'));
    let meta = match std::fs::symlink_metadata(&from) {
        Ok(m) => m,
        Err(e) => return Err(failed(r, "lstat()", &from, &e)),
    };
    let existed = std::fs::symlink_metadata(&to).is_ok();
    if existed {
        if !overwrite {
            r.log(Level::Error, &format!("\"{}\" could not be created", to.display()));
            return Err(412);
        }
        let removed = if std::fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&to)
        } else {
            std::fs::remove_file(&to)
        };
        if let Err(e) = removed {
            return Err(failed(r, "unlink()", &to, &e));
        }
    }
    let done = if moving {
        std::fs::rename(&from, &to).or_else(|e| {
            // (another file system: copy, then delete)
            if e.raw_os_error() != Some(libc::EXDEV) {
                return Err(e);
            }
            copy_tree(&from, &to, false, conf.access())?;
            if meta.is_dir() {
                std::fs::remove_dir_all(&from)
            } else {
                std::fs::remove_file(&from)
            }
        })
    } else {
        copy_tree(&from, &to, shallow, conf.access())
    };
    if let Err(e) = done {
        let code = failed(r, if moving { "rename()" } else { "copy" }, &to, &e);
        return Err(if code == 404 { 409 } else { code });
    }
    // (nginx's answers: a collection is created, a file is replaced or not)
    Ok(if meta.is_dir() { 201 } else { 204 })
}

/// The path of a `Destination` header (an absolute URL on this server, or a path),
/// unescaped; `None` (logged) when it is not usable.
fn destination_uri(r: &mut Request, dest: &str) -> Option<String> {
    let rest = if dest.starts_with('/') {
        dest
    } else {
        let Some((host, path)) =
            crate::h1::strip_http_scheme(dest).and_then(|after| after.find('/').map(|i| after.split_at(i)))
        else {
            r.log(
                Level::Error,
                &format!("client sent invalid \"Destination\" header: \"{dest}\""),
            );
            return None;
        };
        let ours = r.host_var();
        let host = host.split(':').next().unwrap_or(host);
        if !host.eq_ignore_ascii_case(&ours) {
            r.log(
                Level::Error,
                &format!("\"Destination\" URI \"{dest}\" is handled by different repository than the source URI"),
            );
            return None;
        }
        path
    };
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    match crate::h1::percent_decode(path.as_bytes()).and_then(|b| String::from_utf8(b).ok()) {
        Some(p) if !p.split('/').any(|seg| seg == "..") => Some(p),
        _ => {
            r.log(
                Level::Error,
                &format!("client sent invalid \"Destination\" header: \"{dest}\""),
            );
            None
        }
    }
}

/// Copies a file, or a directory with what is in it (only itself when `shallow`).
fn copy_tree(from: &Path, to: &Path, shallow: bool, access: u32) -> std::io::Result<()> {
    if std::fs::metadata(from)?.is_dir() {
        std::fs::create_dir(to)?;
        set_mode(to, dir_mode(access));
        if shallow {
            return Ok(());
        }
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), false, access)?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to)?;
        set_mode(to, access);
        Ok(())
    }
}

fn create_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}

/// A directory is searchable where it is readable (nginx's rule for `dav_access`).
fn dir_mode(access: u32) -> u32 {
    let mut mode = access;
    for shift in [6, 3, 0] {
        if access & (4 << shift) != 0 {
            mode |= 1 << shift;
        }
    }
    mode
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// `Location` of a created resource: its absolute URL, as nginx gives it.
fn set_location(r: &mut Request) {
    let loc = r.absolute_location(&r.uri.clone());
    r.headers_out.set("Location", loc);
}
