//! `tarn`: the command line. Flags and glue only; the work is in the library crates.

mod cli;
mod config;
mod demo;
mod pipeline;
mod users;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::Parser;
use tarn_cli::{OutputFormat, RunOptions, run_script, run_shell};
use tarn_sql::{Session, SessionConfig};

use cli::{BenchAction, Cli, Command, SharingAction, TokenAction};
use config::Settings;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Libraries speak only of errors: delta-rs warns on every MERGE about a metric it derives
    // itself, on every lost commit race (which Tarn retries) and of "lossy timestamp
    // conversions" Tarn chose; the kernel logs errors Tarn reports itself (off). Tarn's own
    // crates warn too. `TARN_LOG=info` (or any
    // tracing filter) shows more. Colour only on a terminal.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TARN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "error,tarn=warn,tarn_cli=warn,tarn_server=warn,tarn_sql=warn,tarn_engine=warn,tarn_catalog=warn,\
             tarn_storage=warn,tarn_pipeline=warn,tarn_sharing=warn,\
             buoyant_kernel=off",
        )
    });
    use std::io::IsTerminal;
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).init();

    let cli = Cli::parse();
    // Planning and optimizing walk a statement's tree recursively; the parser bounds its depth
    // (tarn_sql's MAX_DEPTH) and every thread that plans gets a stack that depth fits in, with
    // room to spare: a stack overflow aborts the whole process, not one statement. The stack
    // is address space; only the pages a deep statement touches are ever committed.
    let main = std::thread::Builder::new().name("tarn-main".into()).stack_size(STACK_SIZE).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread().thread_stack_size(STACK_SIZE).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(run(cli)) {
            Ok(()) => ExitCode::SUCCESS,
            // `tarn sql .. | head`: the reader closed the pipe, which ends the output normally.
            Err(message) if message.contains("Broken pipe (os error 32)") => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    });
    match main.map(|thread| thread.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot start the main thread: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The stack of every thread that runs statements (see `main`).
const STACK_SIZE: usize = 64 << 20;

async fn run(cli: Cli) -> Result<(), String> {
    let settings = Settings::load(config::Flags {
        config: cli.config.clone(),
        warehouse: cli.warehouse.clone(),
        memory_limit: cli.memory_limit.clone(),
        spill_dir: cli.spill_dir.clone(),
    })?;
    tarn_storage::configure(settings.storage.clone()).map_err(|e| e.to_string())?;
    tarn_engine::set_commit_retry(settings.commit_retry);
    // A server shares one machine among many clients: without a limit one query (an array_agg
    // over everything) can take all memory and the kernel kills the server. So `tarn serve`
    // gets a default limit; one-off commands keep none unless told.
    let memory_limit = match (&cli.command, settings.memory_limit) {
        (_, Some(limit)) => Some(limit),
        (Some(Command::Serve { .. }), None) => config::default_server_memory_limit(),
        (_, None) => None,
    };
    let runtime = tarn_sql::Runtime::new(memory_limit, settings.spill_dir.clone()).map_err(|e| e.to_string())?;
    let config = SessionConfig {
        warehouse: settings.warehouse.clone(),
        target_partitions: settings.target_partitions,
        target_file_size: settings.target_file_size,
        data_files: settings.data_files,
        sharing_endpoint: match &cli.command {
            Some(Command::Serve { .. }) => settings.sharing_endpoint.clone(),
            _ => settings.sharing_endpoint.clone().or_else(|| settings.served_sharing_endpoint()),
        },
        runtime,
    };
    if let Some(Command::Serve { http_addr, pg_addr, flight_addr, pg_tls_cert, pg_tls_key, insecure_no_auth }) = cli.command {
        let listen = settings.serve(config::ServeFlags { http_addr, pg_addr, flight_addr, pg_tls_cert, pg_tls_key })?;
        let serve = tarn_server::ServeConfig {
            sharing_endpoint: settings.sharing_endpoint.clone(),
            sharing_url_lifetime: settings.sharing_url_lifetime,
            session: config,
            http_addr: listen.http_addr,
            pg_addr: listen.pg_addr,
            flight_addr: listen.flight_addr,
            pg_tls: listen.pg_tls.map(|(cert, key)| tarn_server::TlsFiles { cert, key }),
            auth: !insecure_no_auth,
        };
        return tarn_server::serve(serve, shutdown_signal()).await.map_err(|e| e.to_string());
    }
    let mut session = Session::open(config).await.map_err(|e| e.to_string())?;
    match cli.command {
        Some(Command::Sql { execute, file, format, output, timing }) => {
            let sql = match (execute, file) {
                (Some(sql), _) => sql,
                (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?,
                (None, None) => read_stdin()?,
            };
            let format: OutputFormat = format
                .or(settings.format.clone())
                .map(|f| f.parse::<OutputFormat>())
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            let options = RunOptions { format, output, echo: false, timing };
            run_script(&mut session, &sql, &options).await.map_err(|e| e.to_string())
        }
        Some(Command::Shell) => run_shell(&mut session).await.map_err(|e| e.to_string()),
        Some(Command::Demo) => demo::run(&mut session, &settings.warehouse).await,
        Some(Command::Serve { .. }) => Ok(()),
        Some(Command::Stream { table, from_version, after_version, format, poll_ms }) => {
            let format: OutputFormat = format.parse().map_err(|e: tarn_cli::CliError| e.to_string())?;
            if !matches!(format, OutputFormat::Json | OutputFormat::Csv) {
                return Err("tarn stream prints json or csv".into());
            }
            let from = match (from_version, after_version) {
                (Some(v), _) => tarn_sql::FollowFrom::Version(v),
                (None, Some(v)) => tarn_sql::FollowFrom::After(v),
                (None, None) => tarn_sql::FollowFrom::Now,
            };
            let output =
                session.follow_changes(&table, from, std::time::Duration::from_millis(poll_ms.max(1))).await.map_err(|e| e.to_string())?;
            let mut printer = tarn_cli::ResultPrinter::new(format, None).map_err(|e| e.to_string())?;
            tokio::select! {
                printed = printer.print(output) => printed.map(|_| ()).map_err(|e| e.to_string()),
                () = shutdown_signal() => Ok(()),
            }
        }
        Some(Command::Pipeline { action }) => pipeline::pipeline(session, action).await,
        Some(Command::User { action }) => users::users(&session, action).await,
        Some(Command::Bench { action: BenchAction::TpchData { sf, parquet, schema, no_load, threads } }) => {
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let started = std::time::Instant::now();
            let dir = parquet.clone();
            let written = tokio::task::spawn_blocking(move || tarn_bench::tpch::write_parquet(&dir, sf, threads))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            eprintln!(
                "TPC-H SF {sf}: Parquet in {} ({}, {:.1} s)",
                parquet.display(),
                if written { "generated" } else { "already there" },
                started.elapsed().as_secs_f64()
            );
            if !no_load {
                let started = std::time::Instant::now();
                tarn_bench::tpch::load_into_warehouse(&mut session, &parquet, schema.as_deref()).await.map_err(|e| e.to_string())?;
                eprintln!("loaded 8 Delta tables in {:.1} s", started.elapsed().as_secs_f64());
            }
            Ok(())
        }
        Some(Command::Token { action: TokenAction::Create { user, ttl_hours } }) => {
            let token = session.catalog().create_token(&user, ttl_hours.map(|h| h * 3600)).await.map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Some(Command::Token { action: TokenAction::List { user } }) => {
            // Times in UTC as RFC 3339, as `tarn sql` prints timestamps.
            let when = |ms: i64| {
                chrono::DateTime::from_timestamp_millis(ms).map_or(ms.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            };
            println!("id\tuser\tcreated\texpires");
            for t in session.catalog().list_tokens(&user).await.map_err(|e| e.to_string())? {
                let expires = t.expires_at.map_or("never".to_string(), when);
                println!("{}\t{}\t{}\t{expires}", t.id, t.principal, when(t.created_at));
            }
            Ok(())
        }
        Some(Command::Token { action: TokenAction::Revoke { id } }) => {
            if session.catalog().revoke_token(&id).await.map_err(|e| e.to_string())? {
                eprintln!("revoked token {id}");
                Ok(())
            } else {
                Err(format!("no token with id '{id}'; tarn token list --user NAME shows the ids"))
            }
        }
        Some(Command::Sharing { action: SharingAction::Profile { recipient, endpoint, output, expires_in } }) => {
            let endpoint =
                endpoint.or_else(|| settings.sharing_endpoint.clone()).unwrap_or_else(|| "http://127.0.0.1:8080/delta-sharing".into());
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(format!("--endpoint must be an http:// or https:// URL, got '{endpoint}'"));
            }
            if expires_in.is_some_and(|s| s <= 0) {
                return Err("--expires-in must be a positive number of seconds".into());
            }
            let expires_at = expires_in.map(|s| chrono_now_ms() + s * 1000);
            let (token, record) = session.catalog().create_recipient_token(&recipient, expires_at).await.map_err(|e| e.to_string())?;
            let profile = tarn_sharing::profile_json(&endpoint, &token, record.expires_at);
            let text = serde_json::to_string_pretty(&profile).map_err(|e| e.to_string())?;
            match output {
                Some(path) => {
                    std::fs::write(&path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    eprintln!("wrote the profile of recipient '{}' to {}", record.recipient, path.display());
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        None if std::io::stdin().is_terminal() => run_shell(&mut session).await.map_err(|e| e.to_string()),
        None => {
            let sql = read_stdin()?;
            run_script(&mut session, &sql, &RunOptions::default()).await.map_err(|e| e.to_string())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn read_stdin() -> Result<String, String> {
    let mut sql = String::new();
    std::io::stdin().read_to_string(&mut sql).map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(sql)
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
