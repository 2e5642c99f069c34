//! The `stoke` binary: `cargo xtask` forwards `train`, `list`, `schedule`, `sigmas` and
//! `bench` here.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = stoke_train::cli::main(&args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
