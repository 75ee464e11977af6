//! Reads Test::Nginx `.t` files: `=== TEST n: title` blocks of `--- section` values, with the
//! little Perl that specs use in `eval` sections (strings, `.`, `x N`, arrays, `qr//`).

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Block {
    pub file: String,
    /// The file's Perl header calls `check_accum_error_log()`: every log check reads the
    /// whole log (else Test::Nginx reads only the lines since its last check).
    pub accum_log: bool,
    /// The file's Perl header calls `no_root_location()`: Test::Nginx then adds no
    /// `location /` of its own after the block's config.
    pub no_root_location: bool,
    pub name: String,
    pub line: usize,
    pub sections: HashMap<String, Value>,
}

/// A section's value: text, or (after `eval`) a list or a regex.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    /// A Perl string that is not UTF-8 (`"\xff"`): its bytes as they are.
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Regex(String),
    /// A parenthesised list before `x`: Perl repeats the list, and `[...]` flattens it.
    Group(Vec<Value>),
}

impl Value {
    pub fn text(&self) -> String {
        match self {
            Value::Text(s) | Value::Regex(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::List(l) | Value::Group(l) => l.iter().map(Value::text).collect(),
        }
    }

    /// The value's bytes, exactly (Perl strings are bytes).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Text(s) | Value::Regex(s) => s.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
            Value::List(l) | Value::Group(l) => l.iter().flat_map(Value::bytes).collect(),
        }
    }
}

impl Block {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.sections.get(name)
    }
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(Value::text)
    }
    pub fn has(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }
}

/// Test::Base's default filters: normalise line ends, drop leading and trailing blank lines.
fn trim(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let lines: Vec<&str> = s.split('\n').collect();
    let start = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map(|e| e + 1)
        .unwrap_or(start);
    if start >= end {
        return String::new();
    }
    let mut out = lines[start..end].join("\n");
    // (an inline `--- name: value` has no newline; a section's lines keep their last one)
    if s.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Marks a section given on its header line (`--- name: value`).
const INLINE: &str = "(inline)";

/// A section being read: its name, its modifiers (`eval`, `chomp`, `chop`), its text so far.
type Section = (String, Vec<String>, String);

pub fn parse_file(file: &str, src: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let at = if src.starts_with("__DATA__\n") {
        Some(0)
    } else {
        src.find("\n__DATA__\n").map(|i| i + 1)
    };
    let Some(at) = at else {
        return Err(format!("{file}: no __DATA__ section"));
    };
    // a real Test::Nginx file: the harness runs it too (../shared/tools/prove-nginx)
    let header = &src[..at];
    if !header.contains("use Test::Nginx::Socket 'no_plan';") || !header.contains("run_tests();") {
        return Err(format!(
            "{file}: not a Test::Nginx file: its header needs `use Test::Nginx::Socket 'no_plan';` \
             and `run_tests();`"
        ));
    }
    let body = &src[at + 9..];
    let base_line = src[..at].lines().count() + 2;
    let mut cur: Option<(Block, Option<Section>)> = None;
    let finish_section = |b: &mut Block, sec: Option<Section>| -> Result<(), String> {
        if let Some((name, mods, text)) = sec {
            let mut v = if mods.iter().any(|m| m == "eval") {
                match eval(&text).map_err(|e| format!("{}: block \"{}\" section {name}: {e}", b.file, b.name))? {
                    // Perl reads `(...) x N` there as a list, of which Test::Base keeps one
                    Value::Group(_) => {
                        return Err(format!(
                            "{}: block \"{}\" section {name}: a list `(...) x N` is not one string \
                             in Perl: write `\"\" . (...) x N`",
                            b.file, b.name
                        ));
                    }
                    v => v,
                }
            } else {
                Value::Text(trim(&text))
            };
            if mods.iter().any(|m| m == "chomp")
                && let Value::Text(t) = &mut v
            {
                while t.ends_with('\n') {
                    t.pop();
                }
            }
            // Test::Base's chop: the last character goes (the newline the block adds)
            if mods.iter().any(|m| m == "chop")
                && let Value::Text(t) = &mut v
            {
                t.pop();
            }
            b.sections.insert(name, v);
        }
        Ok(())
    };
    for (i, line) in body.split_inclusive('\n').enumerate() {
        if let Some(title) = line.strip_prefix("=== ") {
            if let Some((mut b, sec)) = cur.take() {
                finish_section(&mut b, sec)?;
                blocks.push(b);
            }
            let b = Block {
                file: file.to_string(),
                accum_log: src[..at].contains("check_accum_error_log()"),
                no_root_location: src[..at].contains("no_root_location()"),
                name: title.trim().to_string(),
                line: base_line + i,
                sections: HashMap::new(),
            };
            cur = Some((b, None));
            continue;
        }
        let Some((b, sec)) = cur.as_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("--- ") {
            let prev = sec.take();
            finish_section(b, prev)?;
            let rest = rest.trim_end_matches('\n');
            let (head, inline) = match rest.split_once(':') {
                Some((h, v))
                    if !h.contains(' ')
                        || h.split_whitespace()
                            .all(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) =>
                {
                    (h.trim().to_string(), Some(v.trim_start().to_string()))
                }
                _ => (rest.trim().to_string(), None),
            };
            let mut words = head.split_whitespace();
            let name = words.next().unwrap_or("").to_string();
            let mut mods: Vec<String> = words.map(str::to_string).collect();
            if inline.is_some() {
                mods.push(INLINE.to_string());
            }
            let text = inline.unwrap_or_default();
            *sec = Some((name, mods, text));
            continue;
        }
        // (lines after an inline `--- name: value` are not part of it)
        if let Some((_, mods, text)) = sec.as_mut()
            && !mods.iter().any(|m| m == INLINE)
        {
            text.push_str(line);
        }
    }
    if let Some((mut b, sec)) = cur.take() {
        finish_section(&mut b, sec)?;
        blocks.push(b);
    }
    Ok(blocks)
}

/// A string's bytes as text when they are UTF-8, else as bytes.
fn text_or_bytes(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

/// Evaluates the small subset of Perl used in spec `eval` sections.
pub fn eval(src: &str) -> Result<Value, String> {
    let mut p = Perl {
        s: src.trim().as_bytes(),
        i: 0,
    };
    let v = p.expr()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(format!(
            "unsupported Perl at \"{}\"",
            String::from_utf8_lossy(&p.s[p.i..])
        ));
    }
    Ok(v)
}

struct Perl<'a> {
    s: &'a [u8],
    i: usize,
}

impl Perl<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() {
            if self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            } else if self.s[self.i] == b'#' {
                while self.i < self.s.len() && self.s[self.i] != b'\n' {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expr(&mut self) -> Result<Value, String> {
        let mut v = self.term()?;
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.i += 1;
                    let r = self.term()?;
                    v = text_or_bytes([v.bytes(), r.bytes()].concat());
                }
                Some(b'x') if !self.s.get(self.i + 1).is_some_and(|c| c.is_ascii_alphabetic()) => {
                    self.i += 1;
                    self.ws();
                    let n = self.number()?;
                    v = match v {
                        Value::List(l) => Value::List(l.iter().cloned().cycle().take(l.len() * n).collect()),
                        Value::Group(l) => Value::Group(l.iter().cloned().cycle().take(l.len() * n).collect()),
                        other => text_or_bytes(other.bytes().repeat(n)),
                    };
                }
                _ => return Ok(v),
            }
        }
    }

    fn number(&mut self) -> Result<usize, String> {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .unwrap_or("")
            .parse()
            .map_err(|_| "expected a number".to_string())
    }

    fn term(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                self.dq_string().map(text_or_bytes)
            }
            Some(b'\'') => {
                self.i += 1;
                let start = self.i;
                let mut out = Vec::new();
                while self.i < self.s.len() && self.s[self.i] != b'\'' {
                    if self.s[self.i] == b'\\' && matches!(self.s.get(self.i + 1), Some(b'\'' | b'\\')) {
                        self.i += 1;
                    }
                    out.push(self.s[self.i]);
                    self.i += 1;
                }
                let _ = start;
                self.i += 1;
                Ok(Value::Text(String::from_utf8_lossy(&out).into_owned()))
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        break;
                    }
                    match self.expr()? {
                        Value::Group(g) => items.extend(g),
                        v => items.push(v),
                    }
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err("expected , or ]".into()),
                    }
                }
                Ok(Value::List(items))
            }
            Some(b'(') => {
                self.i += 1;
                let mut items = vec![self.expr()?];
                while self.peek() == Some(b',') {
                    self.i += 1;
                    items.push(self.expr()?);
                }
                if self.peek() != Some(b')') {
                    return Err("expected )".into());
                }
                self.i += 1;
                // `("a", "b") x 3` repeats the list; a lone `(expr)` is just the expr
                if items.len() == 1 && self.peek() != Some(b'x') {
                    return Ok(items.remove(0));
                }
                Ok(Value::Group(items))
            }
            Some(b'q') if self.s[self.i..].starts_with(b"qr") => {
                self.i += 2;
                let delim = self.s.get(self.i).copied().ok_or("qr without delimiter")?;
                let close = match delim {
                    b'{' => b'}',
                    b'(' => b')',
                    b'[' => b']',
                    d => d,
                };
                self.i += 1;
                let start = self.i;
                // bracket delimiters nest, as in Perl: qr{\d{4}}
                let mut depth = 0;
                while self.i < self.s.len() && (self.s[self.i] != close || depth > 0) {
                    if self.s[self.i] == b'\\' {
                        self.i += 1;
                    } else if close != delim && self.s[self.i] == delim {
                        depth += 1;
                    } else if close != delim && self.s[self.i] == close {
                        depth -= 1;
                    }
                    self.i += 1;
                }
                let re = String::from_utf8_lossy(&self.s[start..self.i.min(self.s.len())]).into_owned();
                self.i += 1;
                let mut flags = String::new();
                while let Some(c) = self.s.get(self.i).filter(|c| c.is_ascii_alphabetic()) {
                    flags.push(*c as char);
                    self.i += 1;
                }
                Ok(Value::Regex(if flags.is_empty() {
                    re
                } else {
                    format!("(?{flags}){re}")
                }))
            }
            Some(c) if c.is_ascii_digit() => Ok(Value::Text(self.number()?.to_string())),
            _ => Err(format!(
                "unsupported Perl at \"{}\"",
                String::from_utf8_lossy(&self.s[self.i..])
            )),
        }
    }

    fn dq_string(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'0' => out.push(0),
                        b'x' => {
                            let h = std::str::from_utf8(&self.s[self.i..self.i + 2]).map_err(|_| "bad \\x")?;
                            out.push(u8::from_str_radix(h, 16).map_err(|_| "bad \\x")?);
                            self.i += 2;
                        }
                        other => out.push(other),
                    }
                }
                b'$' | b'@' => return Err("interpolation is not supported".into()),
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}
