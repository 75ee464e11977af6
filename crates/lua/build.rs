//! Ships LuaJIT's own Lua libraries (`jit.v`, `jit.dump` and what they need) inside the
//! binary: they are not on the vendored LuaJIT's package path, and `jit.v` is how users
//! find trace aborts. They come from the LuaJIT build of mlua-sys (vmdef.lua is generated
//! there), found beside this crate's build output.

use std::path::{Path, PathBuf};

const FILES: &[&str] = &["v", "dump", "vmdef", "bc", "dis_x64", "dis_x86", "p", "zone"];

fn luajit_jit_dir(out_dir: &Path) -> Option<PathBuf> {
    // OUT_DIR is target/<profile>/build/<this crate>-<hash>/out
    let build = out_dir.parent()?.parent()?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(build).ok()?.flatten() {
        if !e.file_name().to_string_lossy().starts_with("mlua-sys-") {
            continue;
        }
        let dir = e.path().join("out/luajit-build/src/jit");
        if let Ok(m) = std::fs::metadata(dir.join("vmdef.lua"))
            && let Ok(t) = m.modified()
            && best.as_ref().is_none_or(|(b, _)| t > *b)
        {
            best = Some((t, dir));
        }
    }
    best.map(|(_, d)| d)
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let Some(src) = luajit_jit_dir(&out) else {
        panic!("LuaJIT's jit/*.lua were not found in mlua-sys's build output (needed for jit.v)");
    };
    let dest = out.join("jit");
    std::fs::create_dir_all(&dest).expect("OUT_DIR is writable");
    for f in FILES {
        let from = src.join(format!("{f}.lua"));
        std::fs::copy(&from, dest.join(format!("{f}.lua")))
            .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        println!("cargo:rerun-if-changed={}", from.display());
    }
}
