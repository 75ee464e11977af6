//! Values with variables in them (nginx's "complex values"): `"$scheme://$host$uri"`.

use crate::request::Request;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

/// A variable name was cut short: `$` or `${name` with nothing usable after it.
#[derive(Debug, PartialEq, Eq)]
pub struct BadVariable(pub String);

impl Template {
    pub fn parse(s: &str) -> Result<Template, BadVariable> {
        let b = s.as_bytes();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                let start = i;
                while i < b.len() && b[i] != b'$' {
                    i += 1;
                }
                lit.push_str(&s[start..i]);
                continue;
            }
            i += 1;
            let (name, next) = if b.get(i) == Some(&b'{') {
                let Some(end) = s[i + 1..].find('}') else {
                    return Err(BadVariable(format!(
                        "the closing bracket in \"{}\" variable is missing",
                        &s[i + 1..]
                    )));
                };
                (&s[i + 1..i + 1 + end], i + end + 2)
            } else {
                let n = b[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                (&s[i..i + n], i + n)
            };
            if name.is_empty() {
                return Err(BadVariable(format!("invalid variable name in \"{s}\"")));
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            // (variable names are case-insensitive, kept lowercased as nginx does)
            parts.push(Part::Var(name.to_ascii_lowercase()));
            i = next;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            parts,
            source: s.to_string(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text itself when there is no variable in it.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Evaluates against a request; unset variables give the empty string.
    pub fn render(&self, r: &Request) -> String {
        self.render_with(r, |v| v)
    }

    /// Evaluates, asking `first` for each variable before the request (a map's regex
    /// match answers for its own captures).
    pub fn render_resolving(&self, r: &Request, first: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    let value = first(v).or_else(|| crate::variables::get(r, v));
                    out.push_str(&value.unwrap_or_default());
                }
            }
        }
        out
    }

    /// Evaluates, passing each variable's value (empty when unset) through `escape`.
    pub fn render_with(&self, r: &Request, escape: impl Fn(String) -> String) -> String {
        if let [Part::Lit(s)] = self.parts.as_slice() {
            return s.clone();
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    out.push_str(&escape(crate::variables::get(r, v).unwrap_or_default()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_literals_and_variables() {
        let t = Template::parse("a$b-${c}d$").err();
        assert!(t.is_some());
        let t = Template::parse("a$b-${c}d").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(Template::parse("plain").unwrap().literal(), Some("plain"));
        assert!(Template::parse("${x").is_err());
    }
}
