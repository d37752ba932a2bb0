//! Records the compiler's version for the reports: every figure Genesis
//! prints names the machine and the build that produced it
//! (`genesis::machine`).

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rustc (version unknown)".into());
    println!("cargo:rustc-env=GENESIS_RUSTC_VERSION={version}");
    // A new compiler rebuilds everything anyway; nothing else changes this.
    println!("cargo:rerun-if-changed=build.rs");
}
