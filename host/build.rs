//! Records the build's git revision and toolchain for `version`.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|s| !s.is_empty())
}

fn main() {
    let rev = output("git", &["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = output("git", &["log", "-1", "--format=%cd", "--date=format:%Y-%m-%d %H:%M:%S"])
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = output(&rustc, &["--version"]).unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=TXTRADER_GIT_REVISION={rev}");
    println!("cargo:rustc-env=TXTRADER_BUILD_DATE={date}");
    println!("cargo:rustc-env=TXTRADER_RUSTC={rustc_version} ({target})");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
