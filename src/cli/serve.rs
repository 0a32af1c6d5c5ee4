//! `edigate serve`: the daemon. Opens the store, resumes unfinished items, then runs the drop
//! folder poller and the delivery worker on one thread and the HTTP API on tokio. SIGTERM or
//! Ctrl-C: stop taking work, finish the batch in hand, flush, exit 0; a second signal exits at
//! once, which still loses nothing because everything acknowledged was flushed first.
//! `replay`, `exceptions`, `purge` and `backup` wrap the same functions (through the API while
//! `serve` holds the store).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::channels::folder;
use crate::config::Config;
use crate::map::MapSet;
use crate::metrics::Metrics;
use crate::pipeline::Gateway;
use crate::store::{SledStore, StoreConfig};
use crate::x12::grammar::Grammars;

pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::embedded_default()),
    }
}

pub fn open_gateway(config: Config, grammars: Grammars, maps: MapSet) -> Result<Gateway, String> {
    open_gateway_with(config, grammars, maps, false)
}

/// [`open_gateway`], or with `read_only` a gateway for looking only: its store writes nothing
/// (not even an older store's schema mark) and no folder is created.
pub fn open_gateway_with(
    config: Config,
    grammars: Grammars,
    maps: MapSet,
    read_only: bool,
) -> Result<Gateway, String> {
    crate::hold_freed_memory();
    if !read_only {
        for d in [
            &config.in_dir,
            &config.out_dir,
            &config.archive_dir,
            &config.error_dir,
        ] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
    }
    let mut sc = StoreConfig::new(&config.store_dir);
    sc.seen_window = chrono::Duration::days(config.duplicate_window_days);
    sc.inline_payload_max = config.inline_payload_max;
    sc.read_only = read_only;
    let store = SledStore::open_with(sc).map_err(|e| {
        format!(
            "cannot open the store at {}: {e}",
            config.store_dir.display()
        )
    })?;
    Ok(Gateway::new(
        Arc::new(store),
        Arc::new(grammars),
        Arc::new(maps),
        Arc::new(config),
        Arc::new(Metrics::new()),
    ))
}

fn worker(gw: Arc<Gateway>, stop: Arc<AtomicBool>) {
    let mut watch = folder::Watch::default();
    let poll = Duration::from_millis(gw.config.poll_ms);
    while !stop.load(Ordering::SeqCst) {
        let mut busy = false;
        match folder::poll_once(&gw, &mut watch) {
            Ok(n) => busy |= n > 0,
            Err(e) => tracing::error!(error = %e, "drop folder poll failed"),
        }
        match crate::deliver::deliver_due(&gw) {
            Ok(n) => busy |= n > 0,
            Err(e) => tracing::error!(error = %e, "delivery failed"),
        }
        if !busy {
            std::thread::sleep(poll);
        }
    }
    if let Err(e) = gw.store.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
}

pub fn run(config: Config, grammars: Grammars, maps: MapSet) -> u8 {
    let gw = match open_gateway(config, grammars, maps) {
        Ok(g) => Arc::new(g),
        Err(e) => {
            eprintln!("edigate: {e}");
            return 2;
        }
    };
    match gw.resume() {
        Ok(n) if n > 0 => tracing::info!(items = n, "resumed unfinished items"),
        Ok(_) => {}
        Err(e) => {
            eprintln!("edigate: resuming unfinished items failed: {e}");
            return 1;
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edigate: cannot start the runtime: {e}");
            return 1;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let work = {
        let (gw, stop) = (gw.clone(), stop.clone());
        std::thread::spawn(move || worker(gw, stop))
    };
    let listen = gw.config.listen.clone();
    let code = rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("edigate: cannot listen on {listen}: {e}");
                return 2;
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(listen);
        println!("edigate: listening on http://{addr}");
        let _ = std::io::stdout().flush();
        let stop2 = stop.clone();
        let shutdown = async move {
            wait_signal().await;
            tracing::info!("stopping: finishing work in hand");
            stop2.store(true, Ordering::SeqCst);
            // A second signal exits at once: everything acknowledged is already flushed.
            tokio::spawn(async {
                wait_signal().await;
                std::process::exit(130);
            });
        };
        let app = crate::api::router(gw.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("edigate: API server failed: {e}");
            return 1;
        }
        0
    });
    stop.store(true, Ordering::SeqCst);
    let _ = work.join();
    if let Err(e) = gw.store.flush() {
        eprintln!("edigate: final flush failed: {e}");
        return 1;
    }
    code
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A small HTTP/1.1 request to the running gateway (loopback only).
pub fn api_call(
    listen: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(listen)
        .map_err(|e| format!("cannot reach the gateway at {listen}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {listen}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs an operator verb on the store directly, or through the API when `serve` holds it.
pub fn operator(
    config: &Config,
    grammars: Grammars,
    maps: MapSet,
    verb: &str,
    arg: Option<&str>,
) -> u8 {
    let token = std::env::var("EDIGATE_API_TOKEN").ok();
    // Listing exceptions only looks.
    let direct = open_gateway_with(config.clone(), grammars, maps, verb == "exceptions");
    let result: Result<String, String> = match (direct, verb) {
        (Ok(gw), "exceptions") => gw
            .store
            .list_exceptions(1000)
            .map_err(|e| e.to_string())
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        let reason = match &e.stage {
                            crate::store::Stage::Exception { reason } => {
                                reason.lines().next().unwrap_or("").to_string()
                            }
                            _ => String::new(),
                        };
                        format!(
                            "{}  {}  {}",
                            e.id,
                            e.meta.source_name.clone().unwrap_or_default(),
                            reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        (Ok(gw), "replay") => match arg.and_then(|a| a.parse().ok()) {
            Some(id) => crate::pipeline::replay(&gw, id).map(|o| format!("{id}: {o:?}")),
            None => Err("replay needs an inbox id".into()),
        },
        (Ok(gw), "purge") => match arg.and_then(parse_age) {
            Some(age) => gw
                .store
                .purge(chrono::Utc::now() - age)
                .map(|r| format!("{r:?}"))
                .map_err(|e| e.to_string()),
            None => Err("purge needs --older-than like 400d".into()),
        },
        (Ok(gw), "backup") => match arg {
            Some(d) => gw
                .store
                .backup(&PathBuf::from(d))
                .map(|r| format!("{r:?}"))
                .map_err(|e| e.to_string()),
            None => Err("backup needs a directory".into()),
        },
        // No store yet (and so no server holding one): nothing is in exception.
        (Err(_), "exceptions") if !SledStore::exists(&config.store_dir) => Ok(String::new()),
        (Err(_), "exceptions") => {
            api_call(&config.listen, "GET", "/v1/exceptions", token.as_deref()).map(|(_, b)| b)
        }
        (Err(_), "replay") => api_call(
            &config.listen,
            "POST",
            &format!("/v1/replay/{}", arg.unwrap_or("")),
            token.as_deref(),
        )
        .and_then(|(s, b)| if s == 200 { Ok(b) } else { Err(b) }),
        (Err(e), _) => Err(e),
        (Ok(_), other) => Err(format!("unknown verb {other}")),
    };
    match result {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("edigate: {e}");
            1
        }
    }
}

/// `400d`, `12h`, `30m`.
pub fn parse_age(s: &str) -> Option<chrono::Duration> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    match unit {
        "d" => Some(chrono::Duration::days(n)),
        "h" => Some(chrono::Duration::hours(n)),
        "m" => Some(chrono::Duration::minutes(n)),
        _ => None,
    }
}
