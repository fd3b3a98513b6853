//! Helpers of the CLI's integration tests: the library tests' helpers
//! (`crates/iotarc/tests/common/mod.rs`, included rather than copied) plus running the
//! real binary. Each test crate uses a subset.
#![allow(dead_code)]

#[path = "../../../iotarc/tests/common/mod.rs"]
mod shared;
pub use shared::*;

use std::path::Path;
use std::process::{Command, Output};

/// The `iotarc` binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iotarc"))
}

/// Runs `iotarc ARGS...` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run iotarc")
}

/// Runs `iotarc ARGS...`: (exit code, or -1 when killed by a signal; stdout; stderr).
pub fn iotarc(args: &[&str]) -> (i32, String, String) {
    let out = run(args);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The three query outputs that must not change: raw points, aggregates, hourly
/// aggregates.
pub fn query_outputs(arch: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for args in [
        vec!["--time-format", "epoch-us"],
        vec!["--agg", "count,sum,min,max,first,last"],
        vec![
            "--agg",
            "count,sum,min,max,first,last",
            "--every",
            "1h",
            "--time-format",
            "epoch-us",
        ],
    ] {
        let mut a = vec!["query", s(arch)];
        a.extend(args);
        let o = run(&a);
        if !o.status.success() {
            return Err(format!("{a:?} failed: {}", stderr(&o)));
        }
        out.push(stdout(&o));
    }
    Ok(out)
}
