//! `sharelife key generate`.

use std::path::Path;

use serde_json::json;
use sharelife_registry::keys;

use super::{Refusal, print_json};

/// Writes `OUT.key` and `OUT.pub`; prints both paths and the key id.
pub(super) fn generate(out: &Path, json: bool) -> Result<(), Refusal> {
    let key = keys::generate(out)?;
    if json {
        print_json(&json!({
            "secret": key.secret,
            "public": key.public,
            "key_id": key.key_id,
        }));
    } else {
        println!(
            "secret key  {} (mode 0600: keep it secret, never commit it)",
            key.secret.display()
        );
        println!(
            "public key  {} (give it to registry operators)",
            key.public.display()
        );
        println!("key id      {}", key.key_id);
    }
    Ok(())
}
