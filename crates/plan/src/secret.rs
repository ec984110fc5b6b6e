//! Secrets are compared by keyed hash and shown as `(sensitive)`: a value never reaches a plan,
//! the state file or a log.

use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;

/// Hashes secret values with a per-state key (kept in the state file, so hashes of low-entropy
/// secrets cannot be looked up in a precomputed table).
#[derive(Clone)]
pub struct Hasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(..)")
    }
}

impl Hasher {
    pub fn new(key: &[u8]) -> Hasher {
        Hasher { key: key.to_vec() }
    }

    /// `hmac-sha256:<hex>` of `value`.
    pub fn hash(&self, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes any key length");
        mac.update(value.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("hmac-sha256:{hex}")
    }

    /// The `{"$sensitive": hash}` value that stands for `value` in observed specs and states.
    pub fn sensitive(&self, value: &str) -> Json {
        serde_json::json!({ "$sensitive": self.hash(value) })
    }
}

/// The key under which a `$secret` placeholder's hash is kept in
/// [`crate::Observed::secrets`]: the placeholder's inner object as compact JSON.
pub fn secret_key(secret: &Json) -> String {
    serde_json::to_string(secret).expect("json serializes")
}
