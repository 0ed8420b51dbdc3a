//! The `warren` binary; everything lives in the library so it can be tested and reused.

fn main() -> std::process::ExitCode {
    warren_cli::main()
}
