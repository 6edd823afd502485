//! Signing keys: Ed25519, stored as PKCS#8 PEM (`NAME.key`, mode 0600) with
//! the public half as a TUF key document (`NAME.pub`).
//!
//! The same files sign registry metadata (root, publisher roles) and, in
//! later steps, install approvals and packs. A key's id is the TUF key id:
//! the SHA-256 of the public key document in canonical JSON.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use tough::key_source::KeySource;
use tough::schema::key::Key;
use tough::sign::{Sign, parse_keypair};

use crate::fsutil;

/// What went wrong with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file to write exists already: keys are never overwritten.
    #[error("{path} exists already; keys are never overwritten (choose another --out)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The secret key file is not a PKCS#8 PEM key this crate can sign with.
    #[error("{path} is not a sharelife secret key (PKCS#8 PEM, Ed25519/ECDSA P-256/RSA): {reason}")]
    NotASecretKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The public key file is not a TUF key document.
    #[error(
        "{path} is not a sharelife public key (a TUF key document, as written by `sharelife key generate`): {reason}"
    )]
    NotAPublicKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The secret key file is readable by others.
    #[error("{path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    LoosePermissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
}

/// A generated key pair's files.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The secret key (`OUT.key`, mode 0600).
    pub secret: PathBuf,
    /// The public key (`OUT.pub`).
    pub public: PathBuf,
    /// The TUF key id (hex).
    pub key_id: String,
}

/// Generates an Ed25519 key pair at `OUT.key` and `OUT.pub`.
///
/// Refuses to overwrite either file. The secret is created with mode 0600
/// from the first byte (never widened later).
pub fn generate(out: &Path) -> Result<GeneratedKey, KeyError> {
    let secret = with_suffix(out, "key");
    let public = with_suffix(out, "pub");
    for path in [&secret, &public] {
        if path.exists() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    if let Some(parent) = secret.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| KeyError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    let rng = SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| KeyError::NotASecretKey {
        path: secret.clone(),
        reason: format!("key generation failed: {e}"),
    })?;
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    let key = public_of_der(der.as_ref(), &secret)?;
    let key_id = key_id(&key);
    let public_json = serde_json::to_string_pretty(&key).expect("a TUF key serializes") + "\n";

    write_new(&secret, pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public, public_json.as_bytes(), 0o644) {
        let _ = fs::remove_file(&secret);
        return Err(e);
    }
    Ok(GeneratedKey {
        secret,
        public,
        key_id,
    })
}

/// Reads the public half of a key: a `.pub` TUF key document, or the public
/// half of a `.key` secret.
pub fn read_public(path: &Path) -> Result<Key, KeyError> {
    let bytes = fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.starts_with(b"-----BEGIN") {
        let source = SecretKey::open(path)?;
        return Ok(source.public().clone());
    }
    serde_json::from_slice::<Key>(&bytes).map_err(|e| KeyError::NotAPublicKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Whether `signature` is `key`'s signature of `message` (Ed25519 keys,
/// as `sharelife key generate` makes; other key types never verify).
pub fn verify(key: &Key, message: &[u8], signature: &[u8]) -> bool {
    match key {
        Key::Ed25519 { keyval, .. } => aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ED25519,
            keyval.public.as_ref(),
        )
        .verify(message, signature)
        .is_ok(),
        _ => false,
    }
}

/// The TUF key id of a public key (hex).
pub fn key_id(key: &Key) -> String {
    hex::encode(
        key.key_id()
            .expect("a TUF key serializes to canonical JSON"),
    )
}

/// A secret key read from a PEM file, usable wherever `tough` signs.
#[derive(Debug)]
pub struct SecretKey {
    path: PathBuf,
    der: Vec<u8>,
    public: Key,
}

impl SecretKey {
    /// Reads and checks a secret key file: PKCS#8 PEM, not readable by
    /// group or others.
    pub fn open(path: &Path) -> Result<SecretKey, KeyError> {
        let bytes = fs::read(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path)
                .map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::LoosePermissions {
                    path: path.to_owned(),
                    mode: mode & 0o777,
                });
            }
        }
        let parsed = pem::parse(&bytes).map_err(|e| KeyError::NotASecretKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        if parsed.tag() != "PRIVATE KEY" {
            return Err(KeyError::NotASecretKey {
                path: path.to_owned(),
                reason: format!("the PEM block is `{}`, not `PRIVATE KEY`", parsed.tag()),
            });
        }
        let der = parsed.into_contents();
        let public = public_of_der(&der, path)?;
        Ok(SecretKey {
            path: path.to_owned(),
            der,
            public,
        })
    }

    /// The file this key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public half, as a TUF key.
    pub fn public(&self) -> &Key {
        &self.public
    }

    /// The TUF key id (hex).
    pub fn key_id(&self) -> String {
        key_id(&self.public)
    }

    /// A boxed `tough` key source for this key.
    pub fn source(&self) -> Box<dyn KeySource> {
        Box::new(PemKeySource {
            der: self.der.clone(),
        })
    }

    /// Signs `message` (Ed25519: deterministic).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let pair = parse_keypair(&self.der).expect("checked when the key was opened");
        let rng = SystemRandom::new();
        crate::trust::block_on(async { pair.sign(message, &rng).await })
            .expect("signing with a checked key")
    }
}

/// A `tough` key source over PKCS#8 DER held in memory.
#[derive(Debug)]
struct PemKeySource {
    der: Vec<u8>,
}

#[tough::async_trait]
impl KeySource for PemKeySource {
    async fn as_sign(
        &self,
    ) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(Box::new(parse_keypair(&self.der)?))
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err("sharelife never writes keys through tough".into())
    }
}

fn public_of_der(der: &[u8], path: &Path) -> Result<Key, KeyError> {
    parse_keypair(der)
        .map(|pair| pair.tuf_key())
        .map_err(|e| KeyError::NotASecretKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

fn with_suffix(out: &Path, ext: &str) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    out.with_file_name(name)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_owned(),
            }
        } else {
            io(e)
        }
    })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fsutil::sync_parent(path).map_err(io)
}
