//! nginx's charset module, its labelling half: `charset X;` adds `; charset=X` to the
//! Content-Type of responses whose type is in `charset_types`, unless one is given.
//! (Recoding between charsets, `source_charset` and `charset_map`, is not done.)

use crate::phase::HeaderFilter;
use crate::request::Request;

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
    pub charset: std::sync::Arc<str>,
    /// Lowercased media types; `*` is any.
    pub types: std::sync::Arc<[String]>,
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
