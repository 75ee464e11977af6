//! nginx's split_clients module: `split_clients string $variable { 0.5% a; 2% b; * c; }`
//! puts each value of the string in a bucket by its MurmurHash2, so that the same client
//! lands in the same bucket as with nginx (A/B tests keep their groups on a move).

use conf::registry::HTTP;
use conf::{Args, Cmd, Directive, Registry, Result};

use crate::builder::HttpBuilder;
use crate::config::Computed;
use crate::module::Module;
use crate::request::Request;
use crate::template::Template;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::block(
    "split_clients",
    HTTP,
    Args::Block(2, 2),
    split_clients,
)];

pub static MODULE: Module = Module::new("ngx_http_split_clients_module", DIRECTIVES);

impl Computed for SplitClients {
    fn value(&self, r: &Request) -> String {
        SplitClients::value(self, r)
    }
}

/// `split_clients string $variable { N% value; … * value; }` (http).
fn split_clients(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    let source = b.template(cmd, cmd.arg(0))?;
    let name = b.declare_computed(cmd, cmd.arg(1))?;
    let mut parts = Vec::new();
    for line in cmd.children() {
        if line.args.len() != 1 || line.block.is_some() {
            return Err(line.error("invalid number of the split_clients parameters".to_string()));
        }
        let percent = match line.name.as_str() {
            "*" => None,
            p => Some(percent(p).ok_or_else(|| line.error(format!("invalid percent value \"{p}\"")))?),
        };
        parts.push((percent, line.arg(0).to_string()));
    }
    let split = SplitClients::new(source, parts).map_err(|msg| cmd.error(msg))?;
    b.set_computed(name, Box::new(split));
    Ok(())
}

pub struct SplitClients {
    pub source: Template,
    /// Upper bounds of the hash for each part (0: `*`, the rest) and their values.
    parts: Vec<(u32, String)>,
}

impl SplitClients {
    /// `parts`: (percentage in hundredths, or `None` for `*`; value). `Err` is nginx's
    /// complaint.
    pub fn new(source: Template, parts: Vec<(Option<u32>, String)>) -> Result<SplitClients, String> {
        let mut sum: u32 = 0;
        let mut last: u64 = 0;
        let mut out = Vec::new();
        for (percent, value) in parts {
            sum = match percent {
                Some(p) => sum + p,
                None => 10_000,
            };
            if sum > 10_000 {
                return Err("percent total is greater than 100%".into());
            }
            let bound = match percent {
                Some(p) => {
                    last += u64::from(p) * 0xffff_ffff / 10_000;
                    last as u32
                }
                None => 0,
            };
            out.push((bound, value));
        }
        Ok(SplitClients { source, parts: out })
    }

    pub fn value(&self, r: &Request) -> String {
        let hash = murmur_hash2(self.source.render(r).as_bytes());
        self.parts
            .iter()
            .find(|(bound, _)| hash < *bound || *bound == 0)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// `N%` with up to two decimals, in hundredths of a percent.
pub fn percent(s: &str) -> Option<u32> {
    let n = s.strip_suffix('%')?;
    let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
    if whole.is_empty() || frac.len() > 2 || !(whole.bytes().chain(frac.bytes())).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let frac = format!("{frac:0<2}");
    whole
        .parse::<u32>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac.parse().ok()?)
}

/// nginx's MurmurHash2 (seed: the length).
pub fn murmur_hash2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h = data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_percentages() {
        assert_eq!(percent("0.5%"), Some(50));
        assert_eq!(percent("2%"), Some(200));
        assert_eq!(percent("12.34%"), Some(1234));
        assert_eq!(percent("1.234%"), None);
        assert_eq!(percent("x%"), None);
        assert_eq!(percent("5"), None);
    }
}
