//! `txtraderd`: reads the `TXTRADER_*` configuration, starts the gateway, and exits when it is
//! shut down (0 for a requested or planned stop, so a supervisor restarts it; 1 on failure;
//! 2 for an invalid configuration).

use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use txtrader_host::config::Config;
use txtrader_host::shutdown::ExitReason;

/// Sets up logging to stderr through a writer thread of its own: a request never waits for the
/// log (a slow terminal, a full pipe); lines the writer cannot keep up with are dropped and
/// counted, and the count is logged once the writer catches up.
fn init_tracing(level: &str, buffer_lines: usize) -> tracing_appender::non_blocking::WorkerGuard {
    // TXTRADER_LOG_LEVEL takes the original's DEBUG/INFO/WARN/ERROR or a full filter; RUST_LOG,
    // when set, wins.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let lvl = match level.to_ascii_uppercase().as_str() {
            "DEBUG" => "debug",
            "WARN" | "WARNING" => "warn",
            "ERROR" | "CRITICAL" => "error",
            "TRACE" => "trace",
            "INFO" => "info",
            _ => level,
        };
        EnvFilter::try_new(lvl).unwrap_or_else(|_| EnvFilter::new("info"))
    });
    use std::io::IsTerminal;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(buffer_lines)
        .thread_name("txtrader-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let watch = std::thread::Builder::new().name("txtrader-log-watch".into()).spawn(move || {
        let mut reported = 0;
        loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            let now = dropped.dropped_lines();
            if now > reported {
                tracing::warn!(dropped = now - reported, total = now, "log lines dropped: the log's reader could not keep up");
                reported = now;
            }
        }
    });
    if let Err(e) = watch {
        tracing::warn!(cause = %e, "cannot watch for dropped log lines");
    }
    guard
}

/// `txtraderd journal truncate SEQ`: drops record SEQ and everything after it (the way past a
/// damaged record the gateway refuses to skip). Run with the gateway stopped.
fn journal_command(config: &Config, args: &[String]) -> ExitCode {
    let usage = "usage: txtraderd journal truncate SEQ   (drops record SEQ and every later one; TXTRADER_DATA_DIR names the journal)";
    let (Some("truncate"), Some(Ok(seq)), None) = (args.first().map(String::as_str), args.get(1).map(|s| s.parse::<u64>()), args.get(2)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Some(dir) = &config.data_dir else {
        eprintln!("txtraderd journal: TXTRADER_JOURNAL=0, no journal to work on");
        return ExitCode::from(2);
    };
    let settings = txtrader_host::journal::JournalSettings { dir: dir.clone(), max_batch: config.journal_batch };
    match txtrader_host::journal::truncate(&settings, seq) {
        Ok(n) => {
            println!("txtraderd journal: dropped {n} records from record {seq} on ({})", settings.path().display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("txtraderd journal: {e}");
            ExitCode::from(1)
        }
    }
}

/// `txtraderd hash-password`: reads a password (one line of standard input) and prints its
/// argon2 hash for the users file. `txtraderd new-token`: prints a new bearer token and the line
/// the users file stores for it.
fn access_command(command: &str) -> ExitCode {
    use txtrader_host::access::authenticator::{hash_password, new_token};
    if command == "new-token" {
        let (token, stored) = new_token();
        println!("token (give it to the client; it is not stored): {token}");
        println!("users file: tokens = [\"{stored}\"]");
        return ExitCode::SUCCESS;
    }
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("txtraderd hash-password: cannot read the password: {e}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("txtraderd hash-password: give the password on standard input (e.g. `read -s p; printf '%s\\n' \"$p\" | txtraderd hash-password`)");
        return ExitCode::from(2);
    }
    match hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("txtraderd hash-password: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("replay") {
        return txtrader_host::strategies::replay::main(&args[2..]);
    }
    if let Some(command @ ("hash-password" | "new-token")) = args.get(1).map(String::as_str) {
        return access_command(command);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("txtraderd: {e}");
            return ExitCode::from(2);
        }
    };
    if args.get(1).map(String::as_str) == Some("journal") {
        return journal_command(&config, &args[2..]);
    }
    // flushes what the log writer still holds when main returns
    let _log = init_tracing(&config.log.level, config.log.buffer_lines);
    tracing::info!("txtraderd {} ({})", env!("CARGO_PKG_VERSION"), env!("TXTRADER_GIT_REVISION"));
    config.log_report();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(cause = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    let reason = runtime.block_on(async {
        let running = match txtrader_host::start(&config).await {
            Ok(r) => r,
            Err(e) => return ExitReason::Fatal(e.to_string()),
        };
        // Machine-readable, on stdout: where to connect (port 0 picks a free port). Nobody
        // reading stdout is no reason to stop: a failed write is ignored.
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "txtraderd: http listening on {}", running.http_addr);
            let _ = writeln!(out, "txtraderd: tcp listening on {}", running.tcp_addr);
            if let Some(a) = running.https_addr {
                let _ = writeln!(out, "txtraderd: https listening on {a}");
            }
            if let Some(a) = running.tls_tcp_addr {
                let _ = writeln!(out, "txtraderd: tls tcp listening on {a}");
            }
            let _ = out.flush();
        }
        let shutdown = running.shutdown.clone();
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            shutdown.trigger(ExitReason::Signal(signal));
        });
        running.wait().await
    });
    match &reason {
        ExitReason::Fatal(e) => tracing::error!("txtraderd stopped: {e}"),
        other => tracing::info!(reason = ?other, "txtraderd stopped"),
    }
    ExitCode::from(u8::try_from(reason.exit_code()).unwrap_or(1))
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
