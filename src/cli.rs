//! The nginx-compatible command line.

use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Cli {
    pub conf: Option<PathBuf>,
    pub prefix: Option<PathBuf>,
    pub error_log: Option<String>,
    pub globals: Option<String>,
    pub test: bool,
    pub dump: bool,
    pub quiet: bool,
    pub signal: Option<String>,
    pub version: bool,
    pub version_full: bool,
    pub help: bool,
}

pub const USAGE: &str = "Usage: oxiresty [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: the current directory)
  -e filename   : set error log file (default: logs/error.log)
  -c filename   : set configuration file (default: conf/nginx.conf)
  -g directives : set global directives out of configuration file
";

/// Parses argv as nginx does (`-c file` and `-cfile` both work). Errors are nginx's words.
pub fn parse(args: impl Iterator<Item = String>) -> Result<Cli, String> {
    let args: Vec<String> = args.collect();
    let mut cli = Cli::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let Some(flags) = a.strip_prefix('-') else {
            return Err(format!("invalid option: \"{a}\""));
        };
        let chars = flags.char_indices();
        for (pos, c) in chars {
            let mut value = || -> Result<String, String> {
                let rest = &flags[pos + 1..];
                if !rest.is_empty() {
                    return Ok(rest.to_string());
                }
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| format!("option \"-{c}\" requires {}", what(c)))
            };
            match c {
                '?' | 'h' => cli.help = true,
                'v' => cli.version = true,
                'V' => cli.version_full = true,
                't' => cli.test = true,
                'T' => {
                    cli.test = true;
                    cli.dump = true;
                }
                'q' => cli.quiet = true,
                'c' | 'p' | 'e' | 'g' | 's' => {
                    let v = value()?;
                    match c {
                        'c' => cli.conf = Some(PathBuf::from(v)),
                        'p' => cli.prefix = Some(PathBuf::from(v)),
                        'e' => cli.error_log = Some(v),
                        'g' => cli.globals = Some(v),
                        _ => {
                            if !matches!(v.as_str(), "stop" | "quit" | "reopen" | "reload") {
                                return Err(format!("invalid option: \"-s {v}\""));
                            }
                            cli.signal = Some(v)
                        }
                    }
                    break;
                }
                _ => return Err(format!("invalid option: \"{}\"", &flags[pos..])),
            }
        }
        i += 1;
    }
    Ok(cli)
}

fn what(c: char) -> &'static str {
    match c {
        'c' => "configuration file",
        'p' => "prefix path",
        'e' => "error log file",
        'g' => "global directives",
        _ => "signal number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Cli, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn nginx_forms() {
        let c = p(&[
            "-p",
            "/x/",
            "-c",
            "conf/n.conf",
            "-e",
            "err.log",
            "-g",
            "daemon off;",
            "-t",
            "-q",
        ])
        .unwrap();
        assert_eq!(c.prefix.unwrap().to_str(), Some("/x/"));
        assert_eq!(c.conf.unwrap().to_str(), Some("conf/n.conf"));
        assert_eq!(c.globals.as_deref(), Some("daemon off;"));
        assert!(c.test && c.quiet);
        let c = p(&["-tq", "-cfoo"]).unwrap();
        assert!(c.test && c.quiet && c.conf.is_some());
        assert_eq!(p(&["-s", "bogus"]).unwrap_err(), "invalid option: \"-s bogus\"");
        assert_eq!(p(&["-c"]).unwrap_err(), "option \"-c\" requires configuration file");
        assert_eq!(p(&["-x"]).unwrap_err(), "invalid option: \"x\"");
    }
}
