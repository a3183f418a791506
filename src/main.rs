//! The `hookwheel` binary: parse the command line and hand over to the library.

/// The daemon allocates and frees small buffers at a high rate on several threads (requests,
/// records, JSON); mimalloc does that with far less CPU than glibc's malloc (measured in
/// docs/dependencies.md, "mimalloc").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookwheel::cli::main()
}
