#!/bin/sh
# Fuzzes oxiresty's parsers (fuzz/fuzz_targets: the HTTP/1 head, the chunked decoder, the
# nginx.conf parser, *_by_lua_block bodies) with cargo-fuzz, SECONDS_EACH seconds each
# (default 1800), and prints each target's executions. A crash stops with its input in
# fuzz/artifacts/TARGET/: keep it as a regression test beside the code it broke.
# Needs the nightly toolchain and cargo-fuzz (installed from crates.io when missing).
set -eu
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
each=${SECONDS_EACH:-1800}
for target in h1_head chunked conf_parse lua_block; do
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run -O "$target" "corpus/$target" -- -max_total_time="$each" 2>&1 |
        grep -E '^Done [0-9]+ runs' | sed "s/^/$target: /"
done
