//! The `*_by_lua*` directives: each stores its code in the location's Lua settings; the
//! installer turns them into phase handlers.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::rc::Rc;

use conf::registry::{HTTP, LIF, LOC, SIF, SRV};
use conf::{Args, Cmd, Directive, Result, set_once};
use http::directives::{HttpBuilder, LocDraft};
use http::ext::ExtConf;
use http::phase::PhaseTable;

use crate::filter::SyncHandler;
use crate::handler::LuaHandler;
use crate::request::Phase;

/// Where a handler's code comes from.
#[derive(Debug)]
pub enum Source {
    Inline(String),
    File(PathBuf),
}

/// One `*_by_lua*` directive's code, compiled once (on first use) and shared by every
/// location that inherits it.
#[derive(Debug)]
pub struct LuaCode {
    pub source: Source,
    /// `content_by_lua(nginx.conf:12)`, as OpenResty names chunks.
    pub chunkname: String,
    pub compiled: OnceCell<std::result::Result<mlua::Function, String>>,
}

/// The Lua settings of one level (http, server, location).
#[derive(Clone, Default)]
pub struct LuaLocConf {
    pub rewrite: Option<Rc<LuaCode>>,
    pub access: Option<Rc<LuaCode>>,
    pub content: Option<Rc<LuaCode>>,
    pub header_filter: Option<Rc<LuaCode>>,
    pub body_filter: Option<Rc<LuaCode>>,
    pub log: Option<Rc<LuaCode>>,
}

impl ExtConf for LuaLocConf {
    fn merge(&mut self, parent: &Self) {
        if self.rewrite.is_none() {
            self.rewrite = parent.rewrite.clone();
        }
        if self.access.is_none() {
            self.access = parent.access.clone();
        }
        if self.header_filter.is_none() {
            self.header_filter = parent.header_filter.clone();
        }
        if self.body_filter.is_none() {
            self.body_filter = parent.body_filter.clone();
        }
        if self.log.is_none() {
            self.log = parent.log.clone();
        }
        // a content handler belongs to its own location only
    }

    fn clone_box(&self) -> Box<dyn http::ext::ErasedExt> {
        Box::new(self.clone())
    }
}

fn code(b: &HttpBuilder, cmd: &Cmd, tag: &str, file: bool) -> Rc<LuaCode> {
    let conf_file = cmd
        .at
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (source, chunkname) = if file {
        let path = b.prefix.join(cmd.arg(0));
        let name = format!("@{}", path.display());
        (Source::File(path), name)
    } else {
        (
            Source::Inline(cmd.arg(0).to_string()),
            format!("={tag}({conf_file}:{})", cmd.at.line),
        )
    };
    Rc::new(LuaCode {
        source,
        chunkname,
        compiled: OnceCell::new(),
    })
}

macro_rules! lua_directive {
    ($fn:ident, $field:ident, $tag:literal, $file:expr) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let c = code(b, cmd, $tag, $file);
            set_once(&mut b.loc().ext.get_or_default::<LuaLocConf>().$field, c, cmd)
        }
    };
}

lua_directive!(content_inline, content, "content_by_lua", false);
lua_directive!(content_file, content, "content_by_lua", true);
lua_directive!(rewrite_inline, rewrite, "rewrite_by_lua", false);
lua_directive!(rewrite_file, rewrite, "rewrite_by_lua", true);
lua_directive!(access_inline, access, "access_by_lua", false);
lua_directive!(access_file, access, "access_by_lua", true);
lua_directive!(header_filter_inline, header_filter, "header_filter_by_lua", false);
lua_directive!(header_filter_file, header_filter, "header_filter_by_lua", true);
lua_directive!(body_filter_inline, body_filter, "body_filter_by_lua", false);
lua_directive!(body_filter_file, body_filter, "body_filter_by_lua", true);
lua_directive!(log_inline, log, "log_by_lua", false);
lua_directive!(log_file, log, "log_by_lua", true);

/// `init_by_lua*` and `init_worker_by_lua*` belong to the configuration's generation.
macro_rules! init_directive {
    ($fn:ident, $field:ident, $tag:literal, $file:expr) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let c = code(b, cmd, $tag, $file);
            crate::vm::with_building(|g| set_once(&mut g.$field, c, cmd))
        }
    };
}

init_directive!(init_inline, init, "init_by_lua", false);
init_directive!(init_file, init, "init_by_lua", true);
init_directive!(init_worker_inline, init_worker, "init_worker_by_lua", false);
init_directive!(init_worker_file, init_worker, "init_worker_by_lua", true);

/// `lua_package_path` / `lua_package_cpath`: `;;` is LuaJIT's default (which honours
/// LUA_PATH / LUA_CPATH), `$prefix` the server prefix.
fn package_path(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let field = if cmd.name == "lua_package_path" {
        "path"
    } else {
        "cpath"
    };
    let lua = crate::vm::current();
    let set = || -> mlua::Result<()> {
        let package: mlua::Table = lua.globals().get("package")?;
        let default: String = package.get(field)?;
        let prefix = b.prefix.display().to_string();
        let prefix = prefix.trim_end_matches('/');
        let value = cmd
            .arg(0)
            .replace("$prefix", prefix)
            .replace("${prefix}", prefix)
            .replace(";;", &format!(";{default};"));
        package.set(field, value)
    };
    set().map_err(|e| cmd.error(format!("failed to set package.{field}: {e}")))
}

/// `set_by_lua $res 'code' [$arg ...]`, `set_by_lua_block $res { code }`,
/// `set_by_lua_file $res path [$arg ...]`: a step of the rewrite script.
fn set_by_lua(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let file = cmd.name == "set_by_lua_file";
    if cmd.name == "set_by_lua_block" && cmd.args.len() != 2 {
        return Err(conf::ConfError::Arity {
            name: cmd.name.clone(),
            at: cmd.at.clone(),
        });
    }
    let var = b.declare_var(cmd, cmd.arg(0))?;
    let code_cmd = Cmd {
        args: cmd.args[1..2].to_vec(),
        ..cmd.clone()
    };
    let code = code(b, &code_cmd, "set_by_lua", file);
    let mut args = Vec::new();
    for a in cmd.values().skip(2) {
        args.push(b.template(cmd, a)?);
    }
    let handler = SyncHandler::new(crate::vm::current(), code, Phase::Set);
    let f: Rc<dyn http::config::ScriptCall> = Rc::new(crate::filter::SetHandler(handler));
    b.loc().script.push(http::config::ScriptOp::Call { var, args, f });
    Ok(())
}

const ANY: conf::Ctx = HTTP | SRV | LOC | LIF;

pub static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("set_by_lua_block", SRV | SIF | LOC | LIF, Args::AtLeast(2), set_by_lua),
    Directive::value("set_by_lua", SRV | SIF | LOC | LIF, Args::AtLeast(2), set_by_lua),
    Directive::value("set_by_lua_file", SRV | SIF | LOC | LIF, Args::AtLeast(2), set_by_lua),
    Directive::value("lua_package_path", HTTP, Args::Exactly(1), package_path),
    Directive::value("lua_package_cpath", HTTP, Args::Exactly(1), package_path),
    Directive::value("init_by_lua_block", HTTP, Args::Exactly(1), init_inline),
    Directive::value("init_by_lua", HTTP, Args::Exactly(1), init_inline),
    Directive::value("init_by_lua_file", HTTP, Args::Exactly(1), init_file),
    Directive::value("init_worker_by_lua_block", HTTP, Args::Exactly(1), init_worker_inline),
    Directive::value("init_worker_by_lua", HTTP, Args::Exactly(1), init_worker_inline),
    Directive::value("init_worker_by_lua_file", HTTP, Args::Exactly(1), init_worker_file),
    Directive::value("content_by_lua_block", LOC | LIF, Args::Exactly(1), content_inline),
    Directive::value("content_by_lua", LOC | LIF, Args::Exactly(1), content_inline),
    Directive::value("content_by_lua_file", LOC | LIF, Args::Exactly(1), content_file),
    Directive::value("rewrite_by_lua_block", ANY, Args::Exactly(1), rewrite_inline),
    Directive::value("rewrite_by_lua", ANY, Args::Exactly(1), rewrite_inline),
    Directive::value("rewrite_by_lua_file", ANY, Args::Exactly(1), rewrite_file),
    Directive::value("access_by_lua_block", ANY, Args::Exactly(1), access_inline),
    Directive::value("access_by_lua", ANY, Args::Exactly(1), access_inline),
    Directive::value("access_by_lua_file", ANY, Args::Exactly(1), access_file),
    Directive::value(
        "header_filter_by_lua_block",
        ANY,
        Args::Exactly(1),
        header_filter_inline,
    ),
    Directive::value("header_filter_by_lua", ANY, Args::Exactly(1), header_filter_inline),
    Directive::value("header_filter_by_lua_file", ANY, Args::Exactly(1), header_filter_file),
    Directive::value("body_filter_by_lua_block", ANY, Args::Exactly(1), body_filter_inline),
    Directive::value("body_filter_by_lua", ANY, Args::Exactly(1), body_filter_inline),
    Directive::value("body_filter_by_lua_file", ANY, Args::Exactly(1), body_filter_file),
    Directive::value("log_by_lua_block", ANY, Args::Exactly(1), log_inline),
    Directive::value("log_by_lua", ANY, Args::Exactly(1), log_inline),
    Directive::value("log_by_lua_file", ANY, Args::Exactly(1), log_file),
];

/// Puts a location's Lua handlers into its phase table.
pub fn install(d: &LocDraft, t: &mut PhaseTable) -> Result<()> {
    let Some(c) = d.ext.get::<LuaLocConf>() else {
        return Ok(());
    };
    let lua = crate::vm::current();
    if let Some(code) = &c.rewrite {
        t.rewrite
            .push(Rc::new(LuaHandler::new(lua.clone(), code.clone(), Phase::Rewrite)));
    }
    if let Some(code) = &c.access {
        t.access
            .push(Rc::new(LuaHandler::new(lua.clone(), code.clone(), Phase::Access)));
    }
    let sync = |code: &Rc<LuaCode>, phase| Rc::new(SyncHandler::new(lua.clone(), code.clone(), phase));
    if let Some(code) = &c.header_filter {
        t.header_filters.push(sync(code, Phase::HeaderFilter));
    }
    if let Some(code) = &c.body_filter {
        t.body_filters.push(sync(code, Phase::BodyFilter));
    }
    if let Some(code) = &c.log {
        t.log.push(sync(code, Phase::Log));
    }
    if let Some(code) = &c.content {
        t.content = Some(Rc::new(LuaHandler::new(lua, code.clone(), Phase::Content)));
    }
    Ok(())
}
