//! The `edigate` command line: one file per verb. Errors get their context here, at the edge;
//! the verbs call library functions and decide exit codes (0 accepted, 1 rejected or not a
//! document we read, 2 unreadable input or bad arguments).

mod inspect;
mod report;
pub mod serve;
pub mod translate;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::x12::grammar::Grammars;

#[derive(Parser)]
#[command(
    name = "edigate",
    version,
    about = "EDI gateway for hospital supply chains"
)]
struct Cli {
    /// Grammar directory (one subdirectory per X12 version) instead of the embedded grammars.
    #[arg(long, global = true, value_name = "DIR")]
    grammars: Option<PathBuf>,
    /// Map directory (laid out like maps/) instead of the embedded maps.
    #[arg(long, global = true, value_name = "DIR")]
    maps: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AckArg {
    #[value(name = "997")]
    F997,
    #[value(name = "999")]
    F999,
    Ta1,
    Auto,
}

#[derive(Subcommand)]
enum MapsAction {
    /// Run the golden cases under maps/cases.
    Test,
    /// Load and check every map, and say so.
    Check,
}

#[derive(Subcommand)]
enum Command {
    /// Check X12 or cXML files; report every error with its code and position.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Report format: readable text, or one JSON record per transaction set.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write only the acknowledgement to stdout (the report goes to stderr).
        #[arg(long, value_enum)]
        ack: Option<AckArg>,
        /// Worker threads that walk transaction sets (default: one per core; 0 = all on the
        /// reading thread). The report is the same whatever the number.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Show a file as an indented tree with segment and element names from the grammar.
    Inspect { file: PathBuf },
    /// Run the gateway: drop folder, processing, delivery and the HTTP API.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log format: text or json.
        #[arg(long, default_value = "text")]
        log_format: String,
    },
    /// List items in exception (through the API while `serve` runs).
    Exceptions {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Re-run an inbox item from its stored payload (e.g. after a map fix).
    Replay {
        id: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Drop payloads, documents and audit older than an age such as 400d.
    Purge {
        #[arg(long)]
        older_than: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a consistent copy of the store to DIR.
    Backup {
        dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Map tools: `edigate maps test` runs every golden case.
    Maps {
        #[command(subcommand)]
        action: MapsAction,
    },
    /// Map each accepted set to a canonical document, printed as JSON lines.
    Translate {
        file: PathBuf,
        /// Partner whose map overrides and tables apply.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Write canonical JSON (one document or JSON lines) as X12 or cXML.
    Render {
        file: PathBuf,
        #[arg(long, default_value = "x12")]
        to: String,
        #[arg(long)]
        partner: Option<String>,
        #[arg(long, default_value = "004010")]
        version: String,
    },
}

/// The grammars, hashing their fingerprint only when `fingerprint` asks for it.
fn load_grammars(dir: Option<&PathBuf>, fingerprint: bool) -> Result<Grammars, String> {
    match dir {
        Some(d) => Grammars::from_dir_with(d, fingerprint).map_err(|e| e.to_string()),
        None => Grammars::embedded_with(fingerprint).map_err(|e| e.to_string()),
    }
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if format == "json" {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .with_writer(std::io::stderr)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // Validate and inspect record no provenance: they do without the grammar fingerprint.
    let fingerprint = !matches!(
        cli.command,
        Command::Validate { .. } | Command::Inspect { .. }
    );
    // Validate loads the embedded versions its files name, when they name them.
    let lazy = cli.grammars.is_none() && matches!(cli.command, Command::Validate { .. });
    let loaded = if lazy {
        Ok(Grammars::embedded_lazy())
    } else {
        load_grammars(cli.grammars.as_ref(), fingerprint)
    };
    let grammars = match loaded {
        Ok(g) => g,
        Err(e) => {
            eprintln!("edigate: {e}");
            return ExitCode::from(2);
        }
    };
    let load_maps = || match &cli.maps {
        Some(d) => crate::map::MapSet::from_dir(d, &grammars),
        None => crate::map::MapSet::embedded(&grammars),
    };
    let operator = |config: &Option<PathBuf>, verb: &str, arg: Option<&str>| -> u8 {
        let cfg = match serve::load_config(config.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("edigate: {e}");
                return 2;
            }
        };
        match load_maps() {
            Ok(m) => serve::operator(&cfg, grammars.clone(), m, verb, arg),
            Err(e) => {
                eprintln!("edigate: {e}");
                2
            }
        }
    };
    let code = match cli.command {
        Command::Serve { config, log_format } => {
            init_tracing(&log_format);
            match (serve::load_config(config.as_deref()), load_maps()) {
                (Ok(cfg), Ok(m)) => serve::run(cfg, grammars.clone(), m),
                (Err(e), _) => {
                    eprintln!("edigate: {e}");
                    2
                }
                (_, Err(e)) => {
                    eprintln!("edigate: {e}");
                    2
                }
            }
        }
        Command::Exceptions { config } => operator(&config, "exceptions", None),
        Command::Replay { id, config } => operator(&config, "replay", Some(&id)),
        Command::Purge { older_than, config } => operator(&config, "purge", Some(&older_than)),
        Command::Backup { dir, config } => operator(&config, "backup", dir.to_str()),
        Command::Maps { action } => match load_maps() {
            Ok(m) => match action {
                MapsAction::Check => {
                    println!(
                        "{} maps loaded and checked against the grammars",
                        m.maps().count()
                    );
                    0
                }
                MapsAction::Test => {
                    let files = crate::map::cases::case_files(cli.maps.as_deref());
                    let results = crate::map::cases::run(&grammars, &m, &files);
                    let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
                    for r in &results {
                        match &r.failure {
                            None => println!("ok    {}", r.name),
                            Some(f) => println!("FAIL  {}\n{f}", r.name),
                        }
                    }
                    println!(
                        "{} passed, {} failed",
                        results.len() - failed.len(),
                        failed.len()
                    );
                    u8::from(!failed.is_empty())
                }
            },
            Err(e) => {
                eprintln!("edigate: {e}");
                2
            }
        },
        Command::Translate { file, partner } => match load_maps() {
            Ok(m) => translate::run_translate(&grammars, &m, &file, partner.as_deref()),
            Err(e) => {
                eprintln!("edigate: {e}");
                2
            }
        },
        Command::Render {
            file,
            to,
            partner,
            version,
        } => match load_maps() {
            Ok(m) => translate::run_render(&grammars, &m, &file, &to, partner.as_deref(), &version),
            Err(e) => {
                eprintln!("edigate: {e}");
                2
            }
        },
        Command::Validate {
            files,
            format,
            ack,
            threads,
        } => validate::run(&grammars, &files, format, ack, threads),
        Command::Inspect { file } => inspect::run(&grammars, &file),
    };
    ExitCode::from(code)
}
