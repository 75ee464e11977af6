//! From URIs to files: `root` / `alias` mapping, and nginx's answers and log lines when a
//! file cannot be opened.

use std::path::PathBuf;

use conf::errno_text;

use crate::config::Match;
use crate::log::Level;
use crate::phase::Flow;
use crate::request::Request;

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
pub fn under_prefix(prefix: &std::path::Path, dir: &str, rest: &str) -> PathBuf {
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

/// The status (and error-log line) for a file that could not be opened.
pub fn open_failed(r: &mut Request, path: &std::path::Path, e: &std::io::Error) -> Flow {
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
}
