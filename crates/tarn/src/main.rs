//! `tarn`: the command line. Flags and glue only; the work is in the library crates.

mod config;
mod demo;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tarn_cli::{OutputFormat, RunOptions, run_script, run_shell};
use tarn_sql::{Session, SessionConfig};

use config::Settings;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "tarn",
    version,
    about = "Tarn: a lakehouse in one binary — Delta Lake tables, a catalog and SQL.",
    after_help = "Examples:
  tarn sql -e \"CREATE TABLE t (id INT, name STRING); INSERT INTO t VALUES (1, 'a')\"
  tarn sql -f script.sql --format csv
  echo 'SELECT * FROM t VERSION AS OF 0' | tarn sql --format json
  tarn shell --warehouse /data/lake
  tarn demo

Configuration: flags, then TARN_* environment variables, then tarn.toml (or --config FILE)."
)]
struct Cli {
    /// Warehouse root: a directory (default ./warehouse) or an object-store URL.
    #[arg(long, global = true, env = "TARN_WAREHOUSE")]
    warehouse: Option<String>,

    /// Optional TOML configuration file (default: ./tarn.toml if present).
    #[arg(long, global = true, env = "TARN_CONFIG")]
    config: Option<String>,

    /// Memory for all running queries together (e.g. 512MiB, 4GiB); sorts, joins and
    /// aggregates spill to disk beyond it, and a query that still does not fit fails with a
    /// clear error. Default: 60% of the machine's (or the container's) memory for `tarn
    /// serve`, no limit for other commands.
    #[arg(long, global = true, env = "TARN_MEMORY_LIMIT")]
    memory_limit: Option<String>,

    /// Directory for spill files (default: the system's temporary directory).
    #[arg(long, global = true, env = "TARN_SPILL_DIR")]
    spill_dir: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run SQL statements from -e, -f or standard input.
    #[command(after_help = "Examples:
  tarn sql -e 'SHOW TABLES'
  tarn sql -f load.sql
  tarn sql --format parquet -o out.parquet -e 'SELECT * FROM t'")]
    Sql {
        /// SQL text to run (several statements separated by ';').
        #[arg(short = 'e', long = "execute", conflicts_with = "file")]
        execute: Option<String>,
        /// A SQL script to run.
        #[arg(short = 'f', long = "file")]
        file: Option<String>,
        /// Output format: table, csv, json (one object per line) or parquet (needs -o).
        #[arg(long, env = "TARN_FORMAT")]
        format: Option<String>,
        /// Write results to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<String>,
        /// Print row counts and timings to standard error.
        #[arg(long)]
        timing: bool,
    },
    /// Interactive SQL shell (the default on a terminal).
    #[command(after_help = "Example:\n  tarn shell --warehouse ./lake")]
    Shell,
    /// Build a small demo in the warehouse: create, insert, update, time travel, clone, optimize.
    Demo,
    /// Serve the warehouse over the Postgres wire protocol, Arrow Flight SQL and an HTTP API.
    #[command(after_help = "Examples:
  tarn serve                                   # all three on loopback, auth on
  tarn serve --pg-addr 0.0.0.0:5433 --pg-tls-cert server.crt --pg-tls-key server.key --flight-addr off
  tarn serve --memory-limit 4GiB --config tarn.toml
  psql 'host=127.0.0.1 port=5433 dbname=main user=admin'
  curl -s -H \"Authorization: Bearer $TOKEN\" localhost:8080/api/v1/statements -d '{\"statement\": \"SELECT 1 AS one\"}'

Every setting can also come from TARN_* variables or the [serve] table of tarn.toml
(http_addr, pg_addr, flight_addr, pg_tls_cert, pg_tls_key).")]
    Serve {
        /// Address of the HTTP API, or `off` (port 0 picks a free port; the address is
        /// printed at start). Default 127.0.0.1:8080.
        #[arg(long, env = "TARN_HTTP_ADDR")]
        http_addr: Option<String>,
        /// Address of the Postgres wire protocol, or `off`. Default 127.0.0.1:5433.
        #[arg(long, env = "TARN_PG_ADDR")]
        pg_addr: Option<String>,
        /// Address of Arrow Flight SQL, or `off`. Default 127.0.0.1:50051.
        #[arg(long, env = "TARN_FLIGHT_ADDR")]
        flight_addr: Option<String>,
        /// PEM certificate chain for TLS on the Postgres listener (with --pg-tls-key).
        /// Without it, clients asking for SSL are told no and continue in plain text.
        #[arg(long, env = "TARN_PG_TLS_CERT")]
        pg_tls_cert: Option<std::path::PathBuf>,
        /// PEM private key of --pg-tls-cert.
        #[arg(long, env = "TARN_PG_TLS_KEY")]
        pg_tls_key: Option<std::path::PathBuf>,
        /// Accept requests without a token (local experiments only; refused off loopback).
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Follow a table: print each change as it commits, until interrupted.
    #[command(after_help = "Examples:
  tarn stream orders                      # changes from now on, one JSON object per line
  tarn stream orders --from-version 0     # everything since version 0, then follow
  tarn stream orders --after-version 41   # resume after the last version seen
  tarn stream sales.orders --format csv

Each row has the table's columns and _change_type (insert, delete, update_preimage,
update_postimage), _commit_version and _commit_timestamp. A commit's changes are printed
whole before the next commit's, so resuming after the last _commit_version seen gets every
later change exactly once.")]
    Stream {
        /// The table to follow (table, schema.table or catalog.schema.table).
        table: String,
        /// Start with this version (included).
        #[arg(long, conflicts_with = "after_version")]
        from_version: Option<i64>,
        /// Start with the first version after this one.
        #[arg(long)]
        after_version: Option<i64>,
        /// json (one object per line) or csv.
        #[arg(long, default_value = "json")]
        format: String,
        /// How often to look for new commits, in milliseconds.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
    },
    /// Declarative pipelines: a folder of .sql files defining streaming tables and
    /// materialized views (and an optional pipeline.toml).
    #[command(after_help = "Examples:
  tarn pipeline run examples/orders                      # one update of every dataset
  tarn pipeline run examples/orders --full-refresh silver_orders
  tarn pipeline run examples/orders --continuous         # keep following new input
  tarn pipeline validate examples/orders                 # plan everything, write nothing
  tarn pipeline graph examples/orders --dot | dot -Tsvg > graph.svg
  tarn pipeline status examples/orders")]
    Pipeline {
        #[command(subcommand)]
        action: PipelineAction,
    },
    /// Manage users (principals). Works on the warehouse directly, no server needed.
    #[command(after_help = "Examples:
  tarn user create ada                                   # a user; grant privileges with SQL GRANT
  echo 's3cret' | tarn user create bob --password-stdin  # with a password for Postgres clients
  tarn user create etl --service                         # a service principal, for jobs
  tarn user list")]
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage bearer tokens (HTTP API, Flight SQL, and a Postgres password).
    #[command(after_help = "Examples:
  TOKEN=$(tarn token create --user ada)                  # prints the token once
  tarn token create --user etl --ttl-hours 24
  tarn token list --user ada                             # id, user, created, expires (UTC)
  tarn token revoke <id>")]
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Delta Sharing: profile files for recipients (shares and recipients themselves are SQL:
    /// CREATE SHARE, ALTER SHARE ... ADD TABLE, CREATE RECIPIENT, GRANT SELECT ON SHARE).
    #[command(after_help = "Examples:
  tarn sql -e \"CREATE SHARE sales; ALTER SHARE sales ADD TABLE main.default.orders;
              CREATE RECIPIENT acme; GRANT SELECT ON SHARE sales TO RECIPIENT acme\"
  tarn sharing profile acme --endpoint https://lake.example.com/delta-sharing -o acme.share")]
    Sharing {
        #[command(subcommand)]
        action: SharingAction,
    },
    /// Benchmark data (the benchmark itself is bench/tpch.py: Tarn vs DuckDB and Polars).
    #[command(after_help = "Examples:
  tarn --warehouse /tmp/tpch-wh bench tpch-data --sf 1 --parquet /tmp/tpch-sf1
  TARN_BIN=target/release/tarn python bench/tpch.py --sf 1  # the side-by-side benchmark")]
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
}

#[derive(Subcommand, Debug)]
enum BenchAction {
    /// Generate TPC-H data in process (tpchgen) as Parquet files and load it into the
    /// warehouse as Delta tables through SQL.
    #[command(after_help = "Example:
  tarn --warehouse /tmp/tpch-wh bench tpch-data --sf 1 --parquet /tmp/tpch-sf1
  tarn --warehouse /tmp/tpch-wh sql -f ../shared/tpch/queries/q01.sql")]
    TpchData {
        /// Scale factor (1 = about 1 GB of raw data, lineitem 6 million rows).
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// Directory for the Parquet files (kept when it already holds this scale).
        #[arg(long)]
        parquet: std::path::PathBuf,
        /// Schema for the tables (default: the current schema, main.default).
        #[arg(long)]
        schema: Option<String>,
        /// Only write the Parquet files.
        #[arg(long)]
        no_load: bool,
        /// Generator threads (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Subcommand, Debug)]
enum PipelineAction {
    /// Run one update of the whole pipeline (or, with --continuous, keep updating).
    Run {
        /// The pipeline's folder.
        dir: std::path::PathBuf,
        /// Recompute from scratch: every dataset, or the ones named (comma-separated).
        #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "DATASETS")]
        full_refresh: Option<String>,
        /// Keep running: look for new input every trigger interval until interrupted.
        #[arg(long)]
        continuous: bool,
        /// With --continuous: milliseconds between updates (default: pipeline.toml's
        /// trigger_interval_ms, else 1000).
        #[arg(long)]
        interval_ms: Option<u64>,
    },
    /// Parse and plan every dataset without writing anything.
    Validate { dir: std::path::PathBuf },
    /// Print the dependency graph (in run order), or Graphviz DOT with --dot.
    Graph {
        dir: std::path::PathBuf,
        #[arg(long)]
        dot: bool,
    },
    /// The last updates: rows in and out per dataset, expectation pass/fail counts.
    Status {
        dir: std::path::PathBuf,
        /// How many updates to show.
        #[arg(long, default_value_t = 5)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create a user (or, with --service, a service principal).
    #[command(after_help = "Example:\n  tarn user create ada")]
    Create {
        /// The user's name (as in GRANT .. TO name and Postgres' user=name).
        name: String,
        /// Record it as a service principal (a job or pipeline rather than a person).
        #[arg(long)]
        service: bool,
        /// Make it an administrator.
        #[arg(long)]
        admin: bool,
        /// Read a password (for Postgres clients) from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (for Postgres clients) from the first line of standard input.
    #[command(after_help = "Example:\n  echo 's3cret' | tarn user password ada")]
    Password {
        /// The user whose password is set.
        name: String,
    },
    /// List users.
    List,
}

#[derive(Subcommand, Debug)]
enum SharingAction {
    /// Write a profile file (endpoint + a fresh bearer token) for a recipient, for any Delta
    /// Sharing client (pandas, Spark, Power BI, Tarn).
    #[command(after_help = "Example:\n  tarn sharing profile acme --endpoint https://lake.example.com/delta-sharing -o acme.share")]
    Profile {
        /// The recipient (made with CREATE RECIPIENT) the profile is for.
        recipient: String,
        /// Where the recipient reaches `tarn serve`'s Delta Sharing endpoint
        /// (default: the configured sharing endpoint, else http://127.0.0.1:8080/delta-sharing).
        #[arg(long)]
        endpoint: Option<String>,
        /// The file to write (default: standard output).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
        /// The token expires after this many seconds (default: never; rotate with ALTER RECIPIENT).
        #[arg(long)]
        expires_in: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// Print a new token for a user on standard output (it is stored only hashed).
    #[command(after_help = "Example:\n  TOKEN=$(tarn token create --user ada --ttl-hours 24)")]
    Create {
        /// The user the token signs in as.
        #[arg(long)]
        user: String,
        /// Expire after this many hours (default: never).
        #[arg(long)]
        ttl_hours: Option<i64>,
    },
    /// List a user's tokens (ids and dates; secrets are never stored).
    List {
        /// Whose tokens to list.
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by id (the part after `tarn_`); it stops working at once.
    Revoke {
        /// The token's id, as `tarn token list` shows it.
        id: String,
    },
}

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
        Some(Command::Pipeline { action }) => pipeline(session, action).await,
        Some(Command::User { action }) => users(&session, action).await,
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

async fn users(session: &Session, action: UserAction) -> Result<(), String> {
    let catalog = session.catalog();
    match action {
        UserAction::Create { name, service, admin, password_stdin } => {
            // Read the password first: a failed read must not leave a user without one.
            let password = if password_stdin { Some(read_password()?) } else { None };
            let kind = if service { tarn_catalog::PrincipalKind::Service } else { tarn_catalog::PrincipalKind::User };
            catalog.create_principal(&name, kind, admin, false).await.map_err(|e| e.to_string())?;
            if let Some(password) = password {
                tarn_server::set_password(catalog, &name, &password).await.map_err(|e| e.to_string())?;
            }
            eprintln!("created {} '{}'", if service { "service principal" } else { "user" }, name.to_ascii_lowercase());
        }
        UserAction::Password { name } => {
            let password = read_password()?;
            tarn_server::set_password(catalog, &name, &password).await.map_err(|e| e.to_string())?;
            eprintln!("set the password of '{}'", name.to_ascii_lowercase());
        }
        UserAction::List => {
            for p in catalog.list_principals().await.map_err(|e| e.to_string())? {
                println!("{}\t{:?}\t{}", p.name, p.kind, if p.admin { "admin" } else { "" });
            }
        }
    }
    Ok(())
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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

fn print_update(report: &tarn_pipeline::UpdateReport) {
    println!("update {}", report.update_id);
    println!(
        "{:<28} {:<18} {:<12} {:<10} {:>9} {:>9} {:>8} {:>11} {:>8}  message",
        "dataset", "type", "refresh", "status", "rows_in", "rows_out", "dropped", "quarantined", "version"
    );
    for d in &report.datasets {
        let version = d.version.map_or("-".to_string(), |v| v.to_string());
        println!(
            "{:<28} {:<18} {:<12} {:<10} {:>9} {:>9} {:>8} {:>11} {:>8}  {}",
            d.name,
            d.kind.label(),
            d.refresh.label(),
            d.status.label(),
            d.rows_in,
            d.rows_out,
            d.dropped,
            d.quarantined,
            version,
            d.message
        );
        for rule in &d.rules {
            println!(
                "    expectation {:<24} {:<11} passed {:>9}  failed {:>9}",
                rule.name,
                rule.action.map_or("", |a| a.label()),
                rule.passed,
                rule.failed
            );
        }
    }
    for (name, error) in &report.errors {
        let text = error.to_string();
        if text.starts_with(name.as_str()) {
            eprintln!("error: {text}");
        } else {
            eprintln!("error: {name}: {text}");
        }
    }
}

async fn pipeline(mut session: tarn_sql::Session, action: PipelineAction) -> Result<(), String> {
    let load = |dir: &std::path::Path| tarn_pipeline::Pipeline::load(dir).map_err(|e| e.to_string());
    match action {
        PipelineAction::Run { dir, full_refresh, continuous, interval_ms } => {
            let pipeline = load(&dir)?;
            let full_refresh = match full_refresh.as_deref() {
                None => tarn_pipeline::FullRefresh::None,
                Some("") => tarn_pipeline::FullRefresh::All,
                Some(names) => tarn_pipeline::FullRefresh::Only(names.split(',').map(|n| n.trim().to_string()).collect()),
            };
            let options = tarn_pipeline::UpdateOptions { full_refresh };
            if continuous {
                let interval = interval_ms.map(std::time::Duration::from_millis);
                return pipeline
                    .run_continuous(&mut session, &options, interval, shutdown_signal(), |report| {
                        if report.datasets.iter().any(|d| d.status != tarn_pipeline::Status::Skipped) {
                            print_update(report);
                        }
                    })
                    .await
                    .map_err(|e| e.to_string());
            }
            let report = pipeline.update(&mut session, &options).await.map_err(|e| e.to_string())?;
            print_update(&report);
            report.into_result().map(|_| ()).map_err(|e| e.to_string())
        }
        PipelineAction::Validate { dir } => {
            let pipeline = load(&dir)?;
            for (name, schema) in pipeline.validate(&mut session).await.map_err(|e| e.to_string())? {
                let columns: Vec<String> =
                    schema.fields().iter().map(|f| format!("{} {}", f.name(), tarn_sql::spark_type_name(f.data_type()))).collect();
                println!("{name}: {}", columns.join(", "));
            }
            eprintln!("pipeline {} is valid", pipeline.config.name);
            Ok(())
        }
        PipelineAction::Graph { dir, dot } => {
            let pipeline = load(&dir)?;
            if dot {
                print!("{}", pipeline.graph.to_dot(&pipeline.config.name));
            } else {
                print!("{}", pipeline.graph.to_text());
            }
            Ok(())
        }
        PipelineAction::Status { dir, limit } => {
            let pipeline = load(&dir)?;
            let (flows, rules) = pipeline.status(&mut session, limit).await.map_err(|e| e.to_string())?;
            println!("{}", arrow::util::pretty::pretty_format_batches(&flows).map_err(|e| e.to_string())?);
            if rules.iter().any(|b| b.num_rows() > 0) {
                println!("{}", arrow::util::pretty::pretty_format_batches(&rules).map_err(|e| e.to_string())?);
            }
            Ok(())
        }
    }
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
