//! What a lock, a set and a get of a shared dict cost on this machine, with the lock
//! taken per call and held throughout (a measurement for docs/benchmarks.md, not a
//! check): `cargo run -p oxiresty-shdict --release --example lock_speed`.

use std::time::Instant;

use oxiresty_shdict::{StoreOp, Value, Zone};

const N: u32 = 20_000_000;

fn per_call(what: &str, mut f: impl FnMut(u32)) {
    let t = Instant::now();
    for i in 0..N {
        f(i);
    }
    println!("{what}: {:.1} ns", t.elapsed().as_nanos() as f64 / N as f64);
}

fn main() -> std::io::Result<()> {
    let zone = Zone::create("speed", 1 << 20)?;
    let set = |l: &mut oxiresty_shdict::Locked, i: u32| {
        let _ = l
            .dict
            .store(StoreOp::default(), b"key", Value::Number(i as f64), 0, 0, 1);
    };
    let mut out = Vec::new();
    per_call("lock+unlock", |_| drop(zone.lock()));
    per_call("set", |i| set(&mut zone.lock(), i));
    per_call("get", |_| {
        let _ = zone.lock().dict.get(b"key", false, 1, &mut out);
    });
    let mut l = zone.lock();
    per_call("set under one lock", |i| set(&mut l, i));
    per_call("get under one lock", |_| {
        let _ = l.dict.get(b"key", false, 1, &mut out);
    });
    Ok(())
}
