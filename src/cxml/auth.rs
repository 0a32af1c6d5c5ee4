//! Sender authentication: the partner's configured credential, the `Secret` newtype that keeps
//! it out of logs, and the constant-time comparison with the Sender's SharedSecret. Owns no
//! configuration loading (the caller hands us a `PartnerAuth`) and stores nothing.

use std::fmt;

use subtle::ConstantTimeEq;

use super::envelope::Envelope;

/// A credential that must never be printed: `Debug` shows `***`, and there is no `Display`.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the few places that must compare or send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with a candidate (the time taken does not depend on where the
    /// two differ; only on their lengths).
    pub fn matches(&self, candidate: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(candidate.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// What we expect from one trading partner's Sender credential.
#[derive(Debug, Clone)]
pub struct PartnerAuth {
    /// `Credential@domain`, compared case-insensitively (`NetworkID` = `NetworkId`).
    pub domain: String,
    /// `Identity`, compared exactly (after trimming whitespace).
    pub identity: String,
    pub secret: Secret,
    /// The partner's deployment mode (`production` or `test`); a Request in the other mode is
    /// refused with 400. `None` accepts either.
    pub deployment_mode: Option<String>,
}

/// Check the envelope's Sender against the partner: `Err` carries a reason safe to send back
/// (it never contains the secret).
pub fn authenticate(envelope: &Envelope<'_>, partner: &PartnerAuth) -> Result<(), String> {
    if envelope.sender.is_empty() {
        return Err("no Sender credential".into());
    }
    let mut saw_identity = false;
    for cred in &envelope.sender {
        let domain_ok = cred
            .domain()
            .is_some_and(|d| d.eq_ignore_ascii_case(&partner.domain));
        let identity_ok = cred
            .identity()
            .is_some_and(|i| i.as_ref() == partner.identity);
        if !(domain_ok && identity_ok) {
            continue;
        }
        saw_identity = true;
        if let Some(secret) = cred.shared_secret() {
            if partner.secret.matches(&secret) {
                return Ok(());
            }
        }
    }
    if saw_identity {
        Err("Sender SharedSecret missing or not recognised".into())
    } else {
        Err("Sender credential not recognised".into())
    }
}
