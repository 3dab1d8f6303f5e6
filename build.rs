// Records the git revision and branch and the rustc release, for --version
// and portwatch_build_info.
fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// "1.85.0" from `rustc 1.85.0 (4d91de4e4 2025-02-17)`.
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("--version").output().ok().filter(|o| o.status.success())?;
    String::from_utf8(out.stdout).ok()?.split_whitespace().nth(1).map(str::to_string)
}

fn main() {
    let unknown = || "unknown".to_string();
    println!("cargo:rustc-env=PORTWATCH_REVISION={}", git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(unknown));
    println!("cargo:rustc-env=PORTWATCH_BRANCH={}", git(&["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(unknown));
    println!("cargo:rustc-env=PORTWATCH_RUSTC_VERSION={}", rustc_version().unwrap_or_else(unknown));
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}
