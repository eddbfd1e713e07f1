//! The `bigreach` binary: the CLI and headless server ([`bigreach::main`]).

fn main() -> std::process::ExitCode {
    bigreach::main()
}
