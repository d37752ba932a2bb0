//! The `genesis` command: parses arguments and hands them on.

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    genesis::cli::run()
}

/// Lets glibc's allocator keep memory that the process frees, for its next
/// allocations, as the allocators of Python's CSV peers (jemalloc and
/// mimalloc in Arrow and Polars) do. By default glibc hands every freed
/// block of more than 128 KiB back to the kernel, and raises that bound
/// only as it sees such blocks come and go: a process that parses CSV files
/// one after another (the desktop app's scenario files, `genesis parse
/// --repeat`) then had its column buffers faulted in and zeroed by the
/// kernel afresh for each file, which takes longer than parsing them
/// (500,000-row trace: 18–24 ms a parse until glibc's bounds settled after
/// four, 10–14 ms after). Blocks of 32 MiB (glibc's most) and more are
/// still mapped and unmapped on their own; freed memory beyond 512 MiB at
/// the top of the heap is still returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: `mallopt` only sets allocator parameters; called before any
    // other thread exists. A value it refuses leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
