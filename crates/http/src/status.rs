//! Status lines and nginx's built-in error pages.

pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Appends the status line (nginx writes `HTTP/1.1 418 ` for codes it has no name for).
pub fn write_line(out: &mut Vec<u8>, code: u16) {
    if code == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    let digits = [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ];
    out.extend_from_slice(&digits);
    out.push(b' ');
    out.extend_from_slice(reason(code).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// nginx's built-in page title for a status, if it has a page.
pub fn page_title(code: u16) -> Option<String> {
    let title = match code {
        494 => "400 Request Header Or Cookie Too Large".to_string(),
        495 => "400 The SSL certificate error".to_string(),
        496 => "400 No required SSL certificate was sent".to_string(),
        497 => "400 The plain HTTP request was sent to HTTPS port".to_string(),
        // the page says "Found" where the status line keeps "Moved Temporarily"
        302 => "302 Found".to_string(),
        401 => "401 Authorization Required".to_string(),
        301 | 303 | 307 | 308 | 400..=416 | 421 | 429 | 500..=505 | 507 if !reason(code).is_empty() => {
            format!("{code} {}", reason(code))
        }
        _ => return None,
    };
    Some(title)
}

/// The status actually sent for nginx's internal codes (494-497 go out as 400).
pub fn wire_status(code: u16) -> u16 {
    if (494..=497).contains(&code) { 400 } else { code }
}

/// Built-in error page body, CRLF-separated as nginx's.
pub fn page(code: u16, server_tokens: bool) -> Option<String> {
    let title = page_title(code)?;
    let tokens = if server_tokens {
        crate::SERVER_FULL
    } else {
        crate::SERVER_NAME
    };
    Some(format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{tokens}</center>\r\n</body>\r\n</html>\r\n"
    ))
}

/// Statuses after which nginx closes the connection instead of keeping it alive.
pub fn closes_connection(code: u16) -> bool {
    matches!(code, 400 | 408 | 413 | 414 | 494..=497 | 500 | 501)
}
