//! The command line's shape: commands, flags and their help (clap). `main.rs` runs them.

use clap::{Parser, Subcommand};

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
pub(crate) struct Cli {
    /// Warehouse root: a directory (default ./warehouse) or an object-store URL.
    #[arg(long, global = true, env = "TARN_WAREHOUSE")]
    pub(crate) warehouse: Option<String>,

    /// Optional TOML configuration file (default: ./tarn.toml if present).
    #[arg(long, global = true, env = "TARN_CONFIG")]
    pub(crate) config: Option<String>,

    /// Memory for all running queries together (e.g. 512MiB, 4GiB); sorts, joins and
    /// aggregates spill to disk beyond it, and a query that still does not fit fails with a
    /// clear error. Default: 60% of the machine's (or the container's) memory for `tarn
    /// serve`, no limit for other commands.
    #[arg(long, global = true, env = "TARN_MEMORY_LIMIT")]
    pub(crate) memory_limit: Option<String>,

    /// Directory for spill files (default: the system's temporary directory).
    #[arg(long, global = true, env = "TARN_SPILL_DIR")]
    pub(crate) spill_dir: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
pub(crate) enum BenchAction {
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
pub(crate) enum PipelineAction {
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
pub(crate) enum UserAction {
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
pub(crate) enum SharingAction {
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
pub(crate) enum TokenAction {
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
