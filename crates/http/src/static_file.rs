//! Static files: root/alias mapping, index files, conditional requests (ETag,
//! Last-Modified → 304) and single byte ranges (206 / 416).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use crate::config::Match;
use crate::log::Level;
use crate::phase::{Flow, Handler, LocalFuture, Step};
use crate::request::Request;

/// Below this, one read and one write (head and body together) beat sendfile's two calls.
const SENDFILE_MIN: u64 = 16 * 1024;

/// Maps a URI to a file path by the location's `alias` or `root`.
pub fn map_uri(r: &Request, uri: &str) -> PathBuf {
    if let Some(alias) = &r.loc.alias {
        let alias = alias.get(r);
        let prefix = match &r.loc.matcher {
            Match::Prefix(p) | Match::PrefixNoRegex(p) | Match::Exact(p) => p.as_str(),
            // in a regex location the alias is the whole path (it names the captures)
            _ => return under_prefix(&r.http.prefix, &alias, ""),
        };
        let rest = uri.strip_prefix(prefix).unwrap_or(uri);
        return under_prefix(&r.http.prefix, &alias, rest);
    }
    let root = r.loc.settings.root();
    under_prefix(&r.http.prefix, root.get(r).trim_end_matches('/'), uri)
}

/// `prefix.join(dir + rest)` in one allocation: `dir + rest` alone when absolute.
fn under_prefix(prefix: &std::path::Path, dir: &str, rest: &str) -> PathBuf {
    let absolute = if dir.is_empty() {
        rest.starts_with('/')
    } else {
        dir.starts_with('/')
    };
    let prefix = prefix.as_os_str();
    let mut s = std::ffi::OsString::with_capacity(prefix.len() + dir.len() + rest.len() + 1);
    if !absolute {
        s.push(prefix);
        if !prefix.as_encoded_bytes().ends_with(b"/") {
            s.push("/");
        }
    }
    s.push(dir);
    s.push(rest);
    PathBuf::from(s)
}

/// The content handler of locations without one of their own.
pub struct StaticHandler;

impl Handler for StaticHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        let fut: LocalFuture<'a> = Box::pin(serve(r));
        Step::Pending(fut)
    }
}

use conf::errno_text;

async fn serve(r: &mut Request) -> Flow {
    if !matches!(&*r.method, "GET" | "HEAD" | "POST") {
        return Flow::Finish(405);
    }
    if r.uri.ends_with('/') {
        return index(r).await;
    }
    let path = map_uri(r, &r.uri);
    // open, then fstat: one path lookup (O_NONBLOCK: a FIFO must not block the worker)
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .and_then(|f| f.metadata().map(|m| (f, m)));
    let (mut file, meta) = match opened {
        Ok(x) => x,
        Err(e) => return open_failed(r, &path, &e),
    };
    if meta.is_dir() {
        let mut loc = r.absolute_location(&format!("{}/", r.uri));
        if !r.args.is_empty() {
            loc.push('?');
            loc.push_str(&r.args);
        }
        r.headers_out.set("Location", loc);
        return Flow::Finish(301);
    }
    if r.method == "POST" {
        return Flow::Finish(405);
    }
    if !meta.is_file() {
        r.log(Level::Crit, &format!("\"{}\" is not a regular file", path.display()));
        return Flow::Finish(404);
    }
    if let Err(code) = r.discard_body().await {
        return Flow::Finish(code);
    }
    r.filename = Some(path.clone());
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let msecs = mtime.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let etag = etag(msecs, size);
    r.status = 200;
    r.content_type = Some(r.content_type_for(&path.to_string_lossy()));
    r.headers_out.set("Last-Modified", crate::time::http_date_cached(msecs));
    if r.loc.settings.etag() {
        r.headers_out.set("ETag", etag);
    }
    if crate::conditional::check(r) == crate::conditional::Answer::NotModified {
        r.content_type = None;
        r.status = 304;
        r.send_body(&[], true).await;
        return Flow::Done;
    }
    let (start, len) = match range(r, size) {
        Ok(Some((a, b))) => {
            r.status = 206;
            r.headers_out.set("Content-Range", format!("bytes {a}-{b}/{size}"));
            (a, b - a + 1)
        }
        Ok(None) => (0, size),
        Err(()) => {
            r.headers_out.list.clear();
            r.headers_out.set("Content-Range", format!("bytes */{size}"));
            return Flow::Finish(416);
        }
    };
    r.content_length = Some(len);
    if r.loc.settings.max_ranges() != Some(0) {
        r.headers_out.set("Accept-Ranges", "bytes");
    }
    if r.is_head() {
        r.send_body(&[], true).await;
        return Flow::Done;
    }
    if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
        return Flow::Finish(500);
    }
    // large files go out with sendfile(2) when nothing needs to see the bytes
    if len > SENDFILE_MIN && r.send_file(&file, start, len).await {
        return Flow::Done;
    }
    let mut left = len;
    let mut buf = vec![0u8; left.min(64 * 1024) as usize];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        match file.read(&mut buf[..want]) {
            Ok(0) => {
                r.log(
                    Level::Crit,
                    &format!("file \"{}\" was truncated while read", path.display()),
                );
                r.keepalive = false;
                break;
            }
            Ok(n) => {
                left -= n as u64;
                r.send_body(&buf[..n], left == 0).await;
                if r.write_failed {
                    break;
                }
            }
            Err(e) => {
                r.log(
                    Level::Crit,
                    &format!("read() \"{}\" failed ({})", path.display(), errno_text(&e)),
                );
                r.keepalive = false;
                break;
            }
        }
    }
    if !r.eof_sent {
        r.send_body(&[], true).await;
    }
    Flow::Done
}

fn open_failed(r: &mut Request, path: &std::path::Path, e: &std::io::Error) -> Flow {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => 404,
        std::io::ErrorKind::PermissionDenied => 403,
        _ if e.raw_os_error() == Some(libc::ENOTDIR) || e.raw_os_error() == Some(libc::ENAMETOOLONG) => 404,
        _ => 500,
    };
    if code != 404 || r.loc.settings.log_not_found() {
        let lvl = if code == 500 { Level::Crit } else { Level::Error };
        r.log(
            lvl,
            &format!("open() \"{}\" failed ({})", path.display(), errno_text(e)),
        );
    }
    Flow::Finish(code)
}

/// The index module: the first index file that exists → internal redirect to it; else
/// the autoindex listing when it is on.
async fn index(r: &mut Request) -> Flow {
    let dir = map_uri(r, &r.uri);
    for name in r.loc.settings.index().iter() {
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
            return Flow::Redirect(target);
        }
    }
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() && r.loc.settings.autoindex() => Box::pin(crate::autoindex::respond(r, &dir)).await,
        Ok(m) if m.is_dir() => {
            r.log(
                Level::Error,
                &format!("directory index of \"{}\" is forbidden", dir.display()),
            );
            Flow::Finish(403)
        }
        Ok(_) => Flow::Finish(404),
        Err(e) => open_failed(r, &dir, &e),
    }
}

/// nginx's ETag: `"mtime-size"` in hex.
fn etag(mtime: u64, size: u64) -> String {
    let mut buf = [0u8; 20];
    let mut s = String::with_capacity(36);
    s.push('"');
    // hex digits are ASCII
    s.extend(
        crate::output::format_digits(mtime, 16, &mut buf)
            .iter()
            .map(|&b| b as char),
    );
    s.push('-');
    s.extend(
        crate::output::format_digits(size, 16, &mut buf)
            .iter()
            .map(|&b| b as char),
    );
    s.push('"');
    s
}

/// A single `Range: bytes=` request: `Ok(None)` serve whole, `Err` unsatisfiable.
fn range(r: &Request, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(h) = r.header_in("range") else {
        return Ok(None);
    };
    if r.loc.settings.max_ranges() == Some(0) {
        return Ok(None);
    }
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // several ranges: serving the whole entity is allowed (RFC 9110 14.2)
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().map_err(|_| ());
    let (start, end) = if a.is_empty() {
        let n = parse(b)?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start = parse(a)?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            parse(b)?.min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn paths_under_the_prefix_as_join_makes_them() {
        for prefix in ["/srv/oxr", "/srv/oxr/"] {
            for (dir, rest) in [
                ("html", "/a.txt"),
                ("", "/a.txt"),
                ("/var/www", "/x"),
                ("html/sub", "/"),
                ("", ""),
            ] {
                let joined = Path::new(prefix).join(format!("{dir}{rest}"));
                assert_eq!(
                    super::under_prefix(Path::new(prefix), dir, rest),
                    joined,
                    "{prefix} {dir} {rest}"
                );
            }
        }
    }

    #[test]
    fn etags_as_nginx_writes_them() {
        assert_eq!(super::etag(0x5f1e2d3c, 0x400), "\"5f1e2d3c-400\"");
        assert_eq!(super::etag(0, 0), "\"0-0\"");
    }
}
