//! `warren-sim`'s usage errors: refused at once with exit 2 and a clear reason, before any
//! simulation runs (a bad trace path used to be noticed only after the whole run, with exit 0).

use std::process::Command;

/// Exit code, and stderr followed by stdout.
fn sim(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warren-sim")).args(args).output().expect("warren-sim runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    (out.status.code(), text)
}

#[test]
fn a_pop_count_outside_the_world_model_is_a_usage_error() {
    for pops in ["2", "44", "abc"] {
        let (code, err) = sim(&["chaos", "--short", "--pops", pops]);
        assert_eq!(code, Some(2), "--pops {pops}: {err}");
        assert!(err.contains("--pops"), "--pops {pops}: {err}");
        assert!(!err.contains("replay"), "no replay command for a usage error: {err}");
    }
}

#[test]
fn a_trace_that_cannot_be_written_fails_before_the_run() {
    let dir = std::env::temp_dir().join(format!("warren-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("no-such-dir").join("t.trace");
    for path in [missing.to_str().unwrap(), dir.to_str().unwrap()] {
        let (code, err) = sim(&["chaos", "--short", "--trace", path]);
        assert_eq!(code, Some(2), "{path}: {err}");
        assert!(err.contains("cannot write the trace") && err.contains(path), "{path}: {err}");
        assert!(!err.contains("invariants"), "refused before the simulation ran: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gslb_out_must_be_a_directory() {
    let file = std::env::temp_dir().join(format!("warren-sim-cli-out-{}", std::process::id()));
    std::fs::write(&file, "not a directory").unwrap();
    let (code, err) = sim(&["gslb", "--out", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--out must be a directory"), "{err}");
}
