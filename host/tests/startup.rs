//! What start-up refuses and what it creates: an adapter folder other users can write to is
//! refused; loaded adapter copies live in a private folder of a random name.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use txtrader_host::config::Config;
use txtrader_host::StartError;

fn config(adapter_dir: &std::path::Path) -> Config {
    let env: BTreeMap<String, String> = [
        ("TXTRADER_HTTP_PORT", "0".to_owned()),
        ("TXTRADER_TCP_PORT", "0".to_owned()),
        ("TXTRADER_JOURNAL", "0".to_owned()),
        ("TXTRADER_ENABLE_AUTO_RESET", "0".to_owned()),
        ("TXTRADER_ADAPTER_DIR", adapter_dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Config::from_map(&env, "box").expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_folder_others_can_write_is_refused_and_copies_go_to_a_private_folder() {
    let tmp = tempfile::tempdir().expect("tmp");
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).expect("folder");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let e = txtrader_host::start(&config(&shared)).await.expect_err("refused");
    assert!(matches!(&e, StartError::AdapterFolder(why) if why.contains("writable by other users")), "{e}");

    let own = tmp.path().join("own");
    let running = txtrader_host::start(&config(&own)).await.expect("starts");
    let mode = std::fs::metadata(&own).expect("created").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "a missing adapter folder is created private");
    let copies = running.copy_dir.clone();
    let mode = std::fs::metadata(&copies).expect("copy folder").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", copies.display());
    let name = copies.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    assert!(name.starts_with("txtraderd-adapters-") && !name.contains(&std::process::id().to_string()), "not predictable: {name}");
    running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("test".into()));
    tokio::time::timeout(Duration::from_secs(20), running.wait()).await.expect("stops");
    assert!(!copies.exists(), "the copy folder goes at shutdown");
}
