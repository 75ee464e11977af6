//! Lexer and parser for the nginx.conf language, `include` included.
//!
//! Tokenising follows nginx's own rules (ngx_conf_read_token): words end at whitespace, `;`
//! or `{`; `#` starts a comment only where a word could start; a quoted word must be followed
//! by a space, `;` or `{`; `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are unescaped in every word.
//! The one addition is `*_by_lua_block { ... }`, whose body is read as raw Lua.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ast::{Arg, Cmd};
use crate::error::{ConfError, Location, Result};

enum Token {
    Word(Arg),
    Semi,
    Open,
    Close,
    Eof,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    file: Arc<PathBuf>,
}

impl<'a> Lexer<'a> {
    fn at(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.line,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn next(&mut self) -> Result<Token> {
        loop {
            match self.peek() {
                None => return Ok(Token::Eof),
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'#') => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b';') => {
                    self.bump();
                    return Ok(Token::Semi);
                }
                Some(b'{') => {
                    self.bump();
                    return Ok(Token::Open);
                }
                Some(b'}') => {
                    self.bump();
                    return Ok(Token::Close);
                }
                Some(q @ (b'"' | b'\'')) => {
                    self.bump();
                    return self.quoted(q);
                }
                Some(_) => return Ok(self.bare()),
            }
        }
    }

    fn quoted(&mut self, q: u8) -> Result<Token> {
        let start = self.pos;
        loop {
            match self.bump() {
                None => {
                    return Err(ConfError::UnexpectedEof {
                        expecting: "\";\" or \"}\"",
                        at: self.at(),
                    });
                }
                Some(b'\\') => {
                    self.bump();
                }
                Some(c) if c == q => break,
                Some(_) => {}
            }
        }
        let raw = &self.src[start..self.pos - 1];
        // nginx demands a separator right after a closing quote.
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b')') => {}
            Some(c) => {
                return Err(ConfError::Unexpected {
                    token: (c as char).to_string(),
                    at: self.at(),
                });
            }
        }
        Ok(Token::Word(Arg {
            value: unescape(raw),
            quoted: true,
        }))
    }

    fn bare(&mut self) -> Token {
        let start = self.pos;
        let mut after_dollar = false;
        let mut in_var_brace = false;
        while let Some(c) = self.peek() {
            match c {
                b'{' if after_dollar => in_var_brace = true,
                b'}' if in_var_brace => in_var_brace = false,
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' => break,
                b'\\' => {
                    self.bump();
                }
                _ => {}
            }
            after_dollar = c == b'$';
            self.bump();
        }
        Token::Word(Arg {
            value: unescape(&self.src[start..self.pos]),
            quoted: false,
        })
    }

    /// Reads a Lua body after its opening `{` up to the matching `}`, skipping braces that
    /// sit inside Lua strings, comments and long brackets.
    fn lua_block(&mut self, open_at: Location) -> Result<String> {
        let start = self.pos;
        let mut depth = 1usize;
        let eof = |at| ConfError::UnexpectedEof { expecting: "\"}\"", at };
        loop {
            let Some(c) = self.peek() else {
                return Err(eof(open_at));
            };
            match c {
                b'{' => {
                    depth += 1;
                    self.bump();
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        let body = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                        self.bump();
                        return Ok(body);
                    }
                    self.bump();
                }
                b'"' | b'\'' => {
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(eof(open_at)),
                            Some(b'\\') => {
                                self.bump();
                            }
                            Some(x) if x == c => break,
                            Some(_) => {}
                        }
                    }
                }
                b'-' if self.src.get(self.pos + 1) == Some(&b'-') => {
                    self.bump();
                    self.bump();
                    if let Some(level) = self.long_bracket_level() {
                        self.skip_long_bracket(level)?;
                    } else {
                        while let Some(x) = self.bump() {
                            if x == b'\n' {
                                break;
                            }
                        }
                    }
                }
                b'[' => {
                    if let Some(level) = self.long_bracket_level() {
                        self.skip_long_bracket(level)?;
                    } else {
                        self.bump();
                    }
                }
                // `]=]` closes no open long bracket (and `]]` may end an index: `a[b[1]]`)
                b']' if self.closing_long_bracket_level().is_some_and(|l| l > 0) => {
                    return Err(ConfError::Invalid {
                        msg: "unexpected lua closing long-bracket".into(),
                        at: self.at(),
                    });
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    /// At `[`, `[=[`, `[==[`…: the number of `=` signs, if this opens a long bracket.
    fn long_bracket_level(&self) -> Option<usize> {
        let rest = &self.src[self.pos..];
        if rest.first() != Some(&b'[') {
            return None;
        }
        let eqs = rest[1..].iter().take_while(|&&c| c == b'=').count();
        (rest.get(1 + eqs) == Some(&b'[')).then_some(eqs)
    }

    /// At `]`, `]=]`, `]==]`…: the number of `=` signs, if this closes a long bracket.
    fn closing_long_bracket_level(&self) -> Option<usize> {
        let rest = &self.src[self.pos..];
        if rest.first() != Some(&b']') {
            return None;
        }
        let eqs = rest[1..].iter().take_while(|&&c| c == b'=').count();
        (rest.get(1 + eqs) == Some(&b']')).then_some(eqs)
    }

    /// Skips a long bracket (string or comment) of `level` from its opening `[`.
    fn skip_long_bracket(&mut self, level: usize) -> Result<()> {
        // as OpenResty, an unclosed one is reported at the line it opens on
        let opened = self.at();
        for _ in 0..level + 2 {
            self.bump();
        }
        loop {
            if self.closing_long_bracket_level() == Some(level) {
                for _ in 0..level + 2 {
                    self.bump();
                }
                return Ok(());
            }
            if self.bump().is_none() {
                return Err(ConfError::Invalid {
                    msg: "Lua code block missing the closing long bracket".into(),
                    at: opened,
                });
            }
        }
    }
}

/// nginx unescapes these sequences in every word; other backslashes stay as written.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                c @ (b'"' | b'\'' | b'\\') => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                _ => {
                    out.push(b'\\');
                    i += 1;
                    continue;
                }
            }
            i += 2;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one config file (and what it includes). `conf_dir` anchors relative includes.
pub fn parse_file(path: &Path, conf_dir: &Path) -> Result<Vec<Cmd>> {
    parse_file_tracked(path, conf_dir).map(|(cmds, _)| cmds)
}

/// As `parse_file`, also naming every file read, in order (`-T` prints them).
pub fn parse_file_tracked(path: &Path, conf_dir: &Path) -> Result<(Vec<Cmd>, Vec<std::path::PathBuf>)> {
    let src = std::fs::read(path).map_err(|e| ConfError::open(path, &e, None))?;
    let mut lx = Lexer {
        src: &src,
        pos: 0,
        line: 1,
        file: Arc::new(path.to_path_buf()),
    };
    let mut p = Parser {
        conf_dir,
        depth: 0,
        files: vec![path.to_path_buf()],
        reading: vec![std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())],
    };
    let cmds = p.block(&mut lx, false)?;
    Ok((cmds, p.files))
}

/// Parses config text as if read from `path`.
pub fn parse_bytes(src: &[u8], path: &Path, conf_dir: &Path) -> Result<Vec<Cmd>> {
    let mut lx = Lexer {
        src,
        pos: 0,
        line: 1,
        file: Arc::new(path.to_path_buf()),
    };
    let mut p = Parser {
        conf_dir,
        depth: 0,
        files: Vec::new(),
        reading: vec![std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())],
    };
    p.block(&mut lx, false)
}

fn unexpected(token: &str, lx: &Lexer) -> ConfError {
    ConfError::Unexpected {
        token: token.into(),
        at: lx.at(),
    }
}

struct Parser<'a> {
    conf_dir: &'a Path,
    depth: usize,
    files: Vec<std::path::PathBuf>,
    /// The files being read, outermost first: one that includes itself (`include *;` in
    /// its own directory) is refused instead of multiplying until the nesting limit.
    reading: Vec<std::path::PathBuf>,
}

impl Parser<'_> {
    fn block(&mut self, lx: &mut Lexer, nested: bool) -> Result<Vec<Cmd>> {
        let mut out = Vec::new();
        loop {
            let name = match lx.next()? {
                Token::Word(w) => w,
                Token::Eof if nested => {
                    return Err(ConfError::UnexpectedEof {
                        expecting: "\"}\"",
                        at: lx.at(),
                    });
                }
                Token::Eof => return Ok(out),
                Token::Close if nested => return Ok(out),
                Token::Close => return Err(unexpected("}", lx)),
                Token::Semi => return Err(unexpected(";", lx)),
                Token::Open => return Err(unexpected("{", lx)),
            };
            let at = lx.at();
            let mut args = Vec::new();
            let block = loop {
                match lx.next()? {
                    Token::Word(w) => args.push(w),
                    Token::Semi => break None,
                    Token::Open => break Some(()),
                    Token::Close => return Err(unexpected("}", lx)),
                    Token::Eof => {
                        return Err(ConfError::UnexpectedEof {
                            expecting: "\";\" or \"}\"",
                            at: lx.at(),
                        });
                    }
                }
            };
            let mut cmd = Cmd {
                name: name.value,
                args,
                block: None,
                at,
            };
            if block.is_some() {
                if cmd.name.ends_with("_by_lua_block") {
                    let body = lx.lua_block(cmd.at.clone())?;
                    cmd.args.push(Arg {
                        value: body,
                        quoted: true,
                    });
                } else {
                    self.depth += 1;
                    cmd.block = Some(self.block(lx, true)?);
                    self.depth -= 1;
                }
            }
            if cmd.name == "include" && cmd.block.is_none() {
                out.extend(self.include(&cmd)?);
            } else {
                out.push(cmd);
            }
        }
    }

    fn include(&mut self, cmd: &Cmd) -> Result<Vec<Cmd>> {
        if cmd.args.len() != 1 {
            return Err(ConfError::Arity {
                name: cmd.name.clone(),
                at: cmd.at.clone(),
            });
        }
        if self.depth > 64 {
            return Err(cmd.error("too deep include nesting"));
        }
        let pattern = self.conf_dir.join(cmd.arg(0));
        let pattern_text = pattern.to_string_lossy().into_owned();
        let mut files = Vec::new();
        if pattern_text.contains(['*', '?', '[']) {
            let paths = glob::glob(&pattern_text).map_err(|e| cmd.error(format!("invalid include pattern: {e}")))?;
            for p in paths.flatten() {
                files.push(p);
            }
            files.sort();
        } else {
            files.push(pattern);
        }
        let mut out = Vec::new();
        for f in files {
            let real = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if self.reading.contains(&real) {
                return Err(cmd.error(format!("\"{}\" includes itself", f.display())));
            }
            let src = read_conf(&f).map_err(|e| ConfError::open(&f, &e, Some(cmd.at.clone())))?;
            self.files.push(f.clone());
            self.reading.push(real);
            let mut lx = Lexer {
                src: &src,
                pos: 0,
                line: 1,
                file: Arc::new(f.clone()),
            };
            self.depth += 1;
            out.extend(self.block(&mut lx, false)?);
            self.depth -= 1;
            self.reading.pop();
        }
        Ok(out)
    }
}

/// Reads an included file: a regular file of a sane size only (a device, `/dev/zero`,
/// would never end). Errors carry errno numbers, worded as nginx words `open()` failures.
fn read_conf(path: &Path) -> std::io::Result<Vec<u8>> {
    const MAX: u64 = 64 << 20;
    const ENODEV: i32 = 19;
    const EFBIG: i32 = 27;
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() && !meta.is_file() {
        return Err(std::io::Error::from_raw_os_error(ENODEV));
    }
    if meta.len() > MAX {
        return Err(std::io::Error::from_raw_os_error(EFBIG));
    }
    let mut src = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open(path)?, MAX), &mut src)?;
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Cmd>> {
        parse_bytes(s.as_bytes(), Path::new("/c/nginx.conf"), Path::new("/c"))
    }

    fn words(c: &Cmd) -> Vec<&str> {
        c.values().collect()
    }

    #[test]
    fn directives_blocks_and_comments() {
        let t = parse("worker_processes 2; # two\nhttp {\n server { listen 80; }\n}\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(words(&t[0]), ["2"]);
        let http = &t[1];
        assert_eq!(http.children()[0].name, "server");
        assert_eq!(http.children()[0].children()[0].at.line, 3);
    }

    #[test]
    fn quotes_and_escapes() {
        let t = parse(r#"a "x y" 'it\'s' "q\"" b\n "t\tx" c#d;"#).unwrap();
        assert_eq!(words(&t[0]), ["x y", "it's", "q\"", "b\n", "t\tx", "c#d"]);
        assert!(t[0].args[0].quoted && !t[0].args[3].quoted);
    }

    #[test]
    fn variable_braces_stay_in_word() {
        let t = parse("set $a ${b}c;").unwrap();
        assert_eq!(words(&t[0]), ["$a", "${b}c"]);
    }

    #[test]
    fn lua_block_is_raw() {
        let src = "content_by_lua_block {\n local s = \"}\" -- }\n local t = {a = '{'}\n --[[ } ]] local l = [==[ }} ]==]\n ngx.say(s)\n}\nnext 1;";
        let t = parse(src).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t[0].arg(0).contains("ngx.say(s)"));
        assert!(t[0].arg(0).contains("[==[ }} ]==]"));
        assert_eq!(t[1].name, "next");
        assert_eq!(t[1].at.line, 7);
    }

    #[test]
    fn lua_block_bracket_errors() {
        let e = |s| parse(s).unwrap_err().to_string();
        assert_eq!(
            e("content_by_lua_block {\n ngx.say([[hi)\n}\n"),
            "Lua code block missing the closing long bracket in /c/nginx.conf:2"
        );
        assert_eq!(
            e("content_by_lua_block {\n --[==[ x ]] }\n"),
            "Lua code block missing the closing long bracket in /c/nginx.conf:2"
        );
        assert_eq!(
            e("content_by_lua_block {\n\n ]=]\n}"),
            "unexpected lua closing long-bracket in /c/nginx.conf:3"
        );
        // `]]` at the top level ends nested indexing, not a bracket
        assert!(parse("content_by_lua_block { local x = a[b[1]] }").is_ok());
    }

    #[test]
    fn lua_block_with_args() {
        let t = parse("set_by_lua_block $res { return 1 }").unwrap();
        assert_eq!(words(&t[0]), ["$res", " return 1 "]);
    }

    #[test]
    fn errors_in_nginx_words() {
        let e = |s| parse(s).unwrap_err().to_string();
        assert_eq!(
            e("a b"),
            "unexpected end of file, expecting \";\" or \"}\" in /c/nginx.conf:1"
        );
        assert_eq!(
            e("http {\n"),
            "unexpected end of file, expecting \"}\" in /c/nginx.conf:2"
        );
        assert_eq!(e("}"), "unexpected \"}\" in /c/nginx.conf:1");
        assert_eq!(e("a \"b\"c;"), "unexpected \"c\" in /c/nginx.conf:1");
        assert_eq!(e("a;\n;"), "unexpected \";\" in /c/nginx.conf:2");
        assert!(e("content_by_lua_block { x = '}' ").starts_with("unexpected end of file, expecting \"}\""));
    }

    #[test]
    fn an_include_of_itself_or_of_a_device_is_refused() {
        let dir = std::env::temp_dir().join(format!("oxr-conf-self-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.conf"), b"include *.conf;").unwrap();
        let err = parse_file(&dir.join("a.conf"), &dir).unwrap_err().to_string();
        assert!(err.contains("a.conf\" includes itself"), "{err}");
        let err = parse_bytes(b"include /dev/zero;", &dir.join("n.conf"), &dir)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("open() \"/dev/zero\" failed (19: No such device)"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn include_with_glob() {
        let dir = std::env::temp_dir().join(format!("oxr-inc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sites")).unwrap();
        std::fs::write(dir.join("sites/a.conf"), "a 1;").unwrap();
        std::fs::write(dir.join("sites/b.conf"), "b 2;").unwrap();
        std::fs::write(dir.join("one.conf"), "one;").unwrap();
        let t = parse_bytes(
            b"include sites/*.conf; include one.conf; include none/*.conf;",
            &dir.join("n.conf"),
            &dir,
        )
        .unwrap();
        let names: Vec<_> = t.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "one"]);
        let err = parse_bytes(b"\ninclude missing.conf;", &dir.join("n.conf"), &dir)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("open() \""), "{err}");
        assert!(
            err.contains("missing.conf\" failed (2: No such file or directory) in "),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
