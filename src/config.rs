//! `gateway.toml`: folders, store, listen address, API tokens (by reference: a file or an
//! environment variable, never the secret itself) and partner profiles. Read into raw types,
//! then resolved into the `Config` the gateway runs with; mistakes are reported as
//! `file:line: what is wrong, expected what`. With no file, the embedded default applies.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::x12::validate::Leniency;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Which functional acknowledgement a partner gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AckPreference {
    #[serde(rename = "997")]
    F997,
    #[serde(rename = "999")]
    F999,
    #[serde(rename = "none")]
    None,
}

/// One trading partner.
#[derive(Debug, Clone)]
pub struct Partner {
    pub id: String,
    /// (qualifier, id) pairs it sends from (ISA05/ISA06).
    pub x12_ids: Vec<(String, String)>,
    /// cXML credential identities it sends from (Header/From).
    pub cxml_ids: Vec<String>,
    /// cXML shared secret, read from the environment variable or file the config names.
    pub cxml_secret: Option<String>,
    pub ack: AckPreference,
    pub ak2_for_accepted: bool,
    pub allow_test: bool,
    pub lenient: Leniency,
    /// Partner whose map overrides apply (defaults to `id`).
    pub maps: Option<String>,
    /// Created on the fly for an unknown sender (embedded default only).
    pub auto: bool,
}

impl Partner {
    pub fn auto(qualifier: &str, id: &str) -> Partner {
        Partner {
            id: sanitize(id),
            x12_ids: vec![(qualifier.to_string(), id.to_string())],
            cxml_ids: vec![],
            cxml_secret: None,
            ack: AckPreference::F997,
            ak2_for_accepted: true,
            allow_test: true,
            lenient: Leniency::default(),
            maps: None,
            auto: true,
        }
    }
}

/// Partner ids become folder names: keep them to a safe alphabet.
pub fn sanitize(id: &str) -> String {
    let s: String = id
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// Our own identity on outbound interchanges when a partner profile does not say.
#[derive(Debug, Clone)]
pub struct Config {
    pub store_dir: PathBuf,
    pub in_dir: PathBuf,
    pub out_dir: PathBuf,
    pub archive_dir: PathBuf,
    pub error_dir: PathBuf,
    pub listen: String,
    pub api_tokens: Vec<String>,
    pub metrics_token: Option<String>,
    /// Unknown senders get a profile made from their qualifier and id.
    pub auto_partners: bool,
    pub duplicate_window_days: i64,
    /// Milliseconds between drop-folder polls.
    pub poll_ms: u64,
    /// A file must keep its size and mtime this long before it is picked up.
    pub settle_ms: u64,
    pub batch: usize,
    pub inline_payload_max: usize,
    pub partners: Vec<Partner>,
    pub cxml_identity: String,
}

impl Config {
    /// The embedded default: everything under `./var`, API on 127.0.0.1:8080, partners
    /// created from the first interchange they send.
    pub fn embedded_default() -> Config {
        Config::under(Path::new("var"))
    }

    /// The embedded default with its store and folders under `var` instead of `./var`.
    pub fn under(var: &Path) -> Config {
        Config {
            store_dir: var.join("store"),
            in_dir: var.join("in"),
            out_dir: var.join("out"),
            archive_dir: var.join("archive"),
            error_dir: var.join("error"),
            listen: "127.0.0.1:8080".into(),
            api_tokens: vec![],
            metrics_token: None,
            auto_partners: true,
            duplicate_window_days: 90,
            poll_ms: 200,
            settle_ms: 300,
            batch: 256,
            inline_payload_max: 64 * 1024,
            partners: vec![],
            cxml_identity: "EDIGATE".into(),
        }
    }

    pub fn partner_by_x12(&self, qualifier: &str, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| {
            p.x12_ids
                .iter()
                .any(|(q, i)| (q == qualifier || q.is_empty()) && i == id)
        })
    }

    pub fn partner_by_cxml(&self, identity: &str) -> Option<&Partner> {
        self.partners
            .iter()
            .find(|p| p.cxml_ids.iter().any(|i| i == identity))
    }

    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// Loads a config file; relative folders are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&path.display().to_string(), &text, &base)
    }

    pub fn parse(file: &str, text: &str, base: &Path) -> Result<Config, ConfigError> {
        let line_of = |off: usize| {
            text.as_bytes()[..off.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1
        };
        let err = |line: usize, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            err(
                e.span().map(|s| line_of(s.start)).unwrap_or(0),
                e.message().trim().to_string(),
            )
        })?;
        // Folders not named are the embedded default's, under the config file's directory.
        let mut c = Config::under(&base.join("var"));
        let g = raw.gateway.unwrap_or_default();
        for (slot, p) in [
            (&mut c.store_dir, &g.store),
            (&mut c.in_dir, &g.in_dir),
            (&mut c.out_dir, &g.out_dir),
            (&mut c.archive_dir, &g.archive_dir),
            (&mut c.error_dir, &g.error_dir),
        ] {
            if let Some(p) = p {
                *slot = base.join(p);
            }
        }
        if let Some(l) = g.listen {
            c.listen = l;
        }
        c.auto_partners = g.auto_partners.unwrap_or(false);
        if let Some(d) = g.duplicate_window_days {
            c.duplicate_window_days = d;
        }
        if let Some(p) = g.poll_ms {
            c.poll_ms = p;
        }
        if let Some(s) = g.settle_ms {
            c.settle_ms = s;
        }
        if let Some(b) = g.batch {
            c.batch = b.max(1);
        }
        if let Some(i) = g.cxml_identity {
            c.cxml_identity = i;
        }
        let secret = |r: &Option<Spanned<SecretRef>>| -> Result<Option<String>, ConfigError> {
            let Some(r) = r else { return Ok(None) };
            let line = line_of(r.span().start);
            match r.get_ref() {
                SecretRef { env: Some(v), file: None } => std::env::var(v).map(Some).map_err(|_| err(line, format!("environment variable {v} is not set, expected it to hold the secret"))),
                SecretRef { env: None, file: Some(f) } => std::fs::read_to_string(base.join(f))
                    .map(|s| Some(s.trim().to_string()))
                    .map_err(|e| err(line, format!("cannot read secret file {f}: {e}"))),
                _ => Err(err(line, "a secret reference needs exactly one of `env` or `file`, expected e.g. { env = \"EDIGATE_TOKEN\" }".into())),
            }
        };
        if let Some(api) = raw.api {
            if let Some(t) = secret(&api.tokens)? {
                c.api_tokens = t
                    .split([',', '\n'])
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            c.metrics_token = secret(&api.metrics_token)?;
        }
        for p in raw.partner {
            let line = line_of(p.span().start);
            let p = p.into_inner();
            let ack = match p.ack.as_deref() {
                None | Some("997") => AckPreference::F997,
                Some("999") => AckPreference::F999,
                Some("none") => AckPreference::None,
                Some(o) => {
                    return Err(err(line, format!("ack = `{o}`, expected 997, 999 or none")))
                }
            };
            let mut x12_ids = Vec::new();
            for x in &p.x12 {
                let (q, i) = x.split_once(':').ok_or_else(|| {
                    err(
                        line,
                        format!("x12 id `{x}`, expected QUALIFIER:ID such as ZZ:ACMEMED"),
                    )
                })?;
                x12_ids.push((q.to_string(), i.to_string()));
            }
            if p.id.is_empty() || sanitize(&p.id) != p.id {
                return Err(err(
                    line,
                    format!("partner id `{}`, expected letters, digits, - or _", p.id),
                ));
            }
            c.partners.push(Partner {
                id: p.id,
                x12_ids,
                cxml_ids: p.cxml,
                cxml_secret: secret(&p.cxml_secret)?,
                ack,
                ak2_for_accepted: p.ak2_for_accepted.unwrap_or(true),
                allow_test: p.allow_test.unwrap_or(false),
                lenient: p.lenient.unwrap_or_default(),
                maps: p.maps,
                auto: false,
            });
        }
        Ok(c)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    gateway: Option<RawGateway>,
    api: Option<RawApi>,
    #[serde(default)]
    partner: Vec<Spanned<RawPartner>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    store: Option<String>,
    in_dir: Option<String>,
    out_dir: Option<String>,
    archive_dir: Option<String>,
    error_dir: Option<String>,
    listen: Option<String>,
    auto_partners: Option<bool>,
    duplicate_window_days: Option<i64>,
    poll_ms: Option<u64>,
    settle_ms: Option<u64>,
    batch: Option<usize>,
    cxml_identity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    tokens: Option<Spanned<SecretRef>>,
    metrics_token: Option<Spanned<SecretRef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRef {
    env: Option<String>,
    file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartner {
    id: String,
    #[serde(default)]
    x12: Vec<String>,
    #[serde(default)]
    cxml: Vec<String>,
    cxml_secret: Option<Spanned<SecretRef>>,
    ack: Option<String>,
    ak2_for_accepted: Option<bool>,
    allow_test: Option<bool>,
    lenient: Option<Leniency>,
    maps: Option<String>,
}
