//! Every typed error of `sharelife_registry`, as a message a person can
//! act on: what was refused, the file and the attack when there is one,
//! and a hint saying what to do.

use serde_json::{Map, Value, json};
use sharelife_registry::client::ClientError;
use sharelife_registry::keys::KeyError;
use sharelife_registry::package::PackageError;
use sharelife_registry::registry::{CatalogError, LabelError, ValidateError};
use sharelife_registry::scan::ScanError;
use sharelife_registry::trust::{Attack, TrustError};
use sharelife_registry::{PublishError, RegistryError};

use crate::Failure;

/// A command's refusal: the [`Failure`] printed on stderr, plus fields the
/// `--json` error object carries (`stage`, `attack`, `file`).
#[derive(Debug)]
pub(crate) struct Refusal {
    /// What stderr says.
    pub(crate) failure: Failure,
    /// More fields for the JSON error object.
    pub(crate) fields: Map<String, Value>,
}

impl Refusal {
    /// Adds a field to the JSON error object.
    pub(crate) fn field(mut self, key: &str, value: Value) -> Self {
        self.fields.insert(key.to_owned(), value);
        self
    }
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Refusal {
            failure,
            fields: Map::new(),
        }
    }
}

impl From<KeyError> for Refusal {
    fn from(e: KeyError) -> Self {
        let hint = match &e {
            KeyError::Io { .. } => {
                "check the path (keys are made by `sharelife key generate --out PATH`)"
            }
            KeyError::Exists { .. } => "keys are never overwritten: choose another --out",
            KeyError::NotASecretKey { .. } => {
                "pass the `.key` file `sharelife key generate` wrote (the secret half)"
            }
            KeyError::NotAPublicKey { .. } => {
                "pass the `.pub` file `sharelife key generate` wrote (the public half)"
            }
            KeyError::LoosePermissions { .. } => {
                "a secret key must be readable by its owner only: chmod 600 it"
            }
        };
        Failure::new(e.to_string()).hint(hint).into()
    }
}

impl From<TrustError> for Refusal {
    fn from(e: TrustError) -> Self {
        let refusal: Refusal = match &e {
            TrustError::Refused {
                registry,
                file,
                attack,
                detail,
            } => Failure::new(format!(
                "registry `{registry}`: refused {file}: {}",
                attack_words(*attack)
            ))
            .details(vec![
                format!("file:   {file}"),
                format!("attack: {attack}"),
                format!("detail: {detail}"),
            ])
            .hint(attack_hint(*attack))
            .into(),
            TrustError::Unreachable { .. } => Failure::new(e.to_string())
                .hint("check the registry's URL and that its server is up (`sharelife registry list` shows the URL)")
                .into(),
            TrustError::Malformed { .. } => Failure::new(e.to_string())
                .hint("the registry serves a file that is not TUF metadata: tell its operator; nothing was trusted")
                .into(),
            TrustError::State { .. } => Failure::new(e.to_string())
                .hint("check that SHARELIFE_HOME is writable")
                .into(),
            TrustError::Other { .. } => Failure::new(e.to_string()).into(),
        };
        refusal.with_attack(&e)
    }
}

impl Refusal {
    /// Adds `attack` and `file` when `e` is a refusal that names them.
    fn with_attack(self, e: &TrustError) -> Self {
        match e {
            TrustError::Refused { file, attack, .. } => self
                .field("attack", json!(attack))
                .field("file", json!(file)),
            _ => self,
        }
    }
}

/// The attack in plain words.
fn attack_words(attack: Attack) -> &'static str {
    match attack {
        Attack::Tampering => "its bytes differ from what the signed metadata says (tampering)",
        Attack::Rollback => "it is older than what this client already trusts (rollback)",
        Attack::Freeze => "it has expired: the registry is stale or held back (freeze)",
        Attack::MixAndMatch => "it does not belong to the same signed snapshot (mix-and-match)",
        Attack::ArbitrarySigning => {
            "a signature is missing, invalid or below the threshold (arbitrary signing)"
        }
        Attack::Delegation => "a role signed files outside the ids it was delegated",
        Attack::EndlessData => "it is larger than its signed length or the download limit",
    }
}

/// What to do about each attack.
fn attack_hint(attack: Attack) -> &'static str {
    match attack {
        Attack::Freeze => {
            "the registry's operator must run `sharelife registry refresh` (from cron, well within the timestamp's expiry); nothing from it is trusted until then"
        }
        Attack::Rollback => {
            "the server (or a mirror) serves older metadata than you already trusted; your trusted state was kept. Tell the registry's operator"
        }
        _ => {
            "do not use this registry until its operator has checked it; your trusted state was kept unchanged"
        }
    }
}

impl From<ClientError> for Refusal {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Trust(t) => t.into(),
            ClientError::UnknownRegistry(_) => Failure::new(e.to_string())
                .hint("add it with `sharelife registry add NAME URL --root ROOT.json`, or see `sharelife registry list`")
                .into(),
            ClientError::Exists(_) => Failure::new(e.to_string())
                .hint("choose another name (`sharelife registry list` shows the added ones)")
                .into(),
            ClientError::BadName(_) => Failure::new(e.to_string())
                .hint("use letters, digits, `-`, `_` and `.`, like `main`")
                .into(),
            ClientError::BadUrl { .. } => Failure::new(e.to_string())
                .hint("use file:///path/to/registry, http(s)://host/path/, or a directory path")
                .into(),
            ClientError::UnknownPlugin { .. } => Failure::new(e.to_string())
                .hint("find plugins with `sharelife search QUERY`")
                .into(),
            ClientError::NoMatchingVersion { .. } => Failure::new(e.to_string())
                .hint("see the versions with `sharelife info ID`; an exact `ID@VERSION` may name a yanked one")
                .into(),
            ClientError::PackageMismatch {
                ref file, attack, ..
            } => {
                let file = file.clone();
                Refusal::from(
                    Failure::new(e.to_string())
                        .hint("the package does not match its signed index line: nothing was written; tell the registry's operator"),
                )
                .field("attack", json!(attack))
                .field("file", json!(file))
            }
            ClientError::Index(_) => Failure::new(e.to_string())
                .hint("the registry's signed index does not parse: tell its operator")
                .into(),
            ClientError::Package(p) => p.into(),
            ClientError::Io { .. } | ClientError::BadState { .. } => Failure::new(e.to_string())
                .hint("check SHARELIFE_HOME (default ~/.sharelife)")
                .into(),
        }
    }
}

impl From<PackageError> for Refusal {
    fn from(e: PackageError) -> Self {
        let hint = match &e {
            PackageError::Cargo { .. } => {
                "fix the build (run `cargo build --release` in the crate), or pass --library FILE"
            }
            PackageError::NoLibrary { .. } => {
                "set `crate-type = [\"cdylib\", \"rlib\"]` under [lib] in Cargo.toml"
            }
            PackageError::Library { .. } => {
                "point at a plugin library built with #[plugin] against this sharelife"
            }
            PackageError::LibrariesDisagree { .. } | PackageError::DuplicateTarget { .. } => {
                "package one build of one version: one library per target triple, all with the same manifest"
            }
            PackageError::Io { .. } => "check the path",
            _ => "this is not a valid .slpkg: rebuild it with `sharelife package`",
        };
        Failure::new(e.to_string()).hint(hint).into()
    }
}

impl From<RegistryError> for Refusal {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Key(k) => k.into(),
            RegistryError::Trust(t) => t.into(),
            RegistryError::Catalog(c) => c.into(),
            RegistryError::NotEmpty(_) => Failure::new(e.to_string())
                .hint("pass a new or empty directory")
                .into(),
            RegistryError::NotARegistry { .. } => Failure::new(e.to_string())
                .hint("pass the operator's registry directory (the one holding root.json and private/)")
                .into(),
            RegistryError::NotRootKey { .. } => Failure::new(e.to_string())
                .hint("pass the root key given to `sharelife registry init`")
                .into(),
            RegistryError::BadDelegation(_) => Failure::new(e.to_string())
                .hint("one id, one publisher: choose ids no other role has, and a new --role name")
                .into(),
            RegistryError::Io { .. } => Failure::new(e.to_string())
                .hint("the registry was left unchanged; check the directory's permissions and free space")
                .into(),
        }
    }
}

impl From<CatalogError> for Refusal {
    fn from(e: CatalogError) -> Self {
        let hint = match &e {
            CatalogError::NotAPublisher { .. } => {
                "unsigned: this key may publish nothing here; ask the registry's operator to run `sharelife registry delegate DIR --publisher YOUR.pub --ids 'PREFIX.*'`"
            }
            CatalogError::NotDelegated { .. } => {
                "ask the registry's operator to run `sharelife registry delegate` for this id, or publish with the key of the id's publisher"
            }
            CatalogError::VersionExists { .. } => {
                "bump the version in Cargo.toml, rebuild and package again"
            }
            CatalogError::UnknownVersion { .. } => "see the versions with `sharelife info ID`",
            CatalogError::Index(_) => "the registry's own index does not parse: check the registry",
            CatalogError::Sign { .. } | CatalogError::Io { .. } => {
                "the registry was left unchanged; check the directory and keys"
            }
        };
        Failure::new(e.to_string()).hint(hint).into()
    }
}

impl From<PublishError> for Refusal {
    fn from(e: PublishError) -> Self {
        let Some(stage) = e.stage() else {
            let PublishError::Registry(r) = e else {
                unreachable!("only a registry error has no stage")
            };
            return r.into();
        };
        let inner: Refusal = match e {
            PublishError::Validate(v) => validate_refusal(v),
            PublishError::Package(p) => p.into(),
            PublishError::Scan(s) => scan_refusal(s),
            PublishError::Label(LabelError::SeedRecord(detail)) => Failure::new(format!(
                "the seed-v2 record derived from the manifest is invalid: {detail}"
            ))
            .hint("see `sharelife inspect --format seed-v2 LIB` and fix the manifest's metadata")
            .into(),
            PublishError::Catalog(c) => c.into(),
            PublishError::Registry(r) => r.into(),
        };
        let Refusal {
            mut failure,
            mut fields,
        } = inner;
        failure.message = format!(
            "publish refused at stage `{stage}`: {}; the registry is unchanged",
            failure.message
        );
        fields.insert("stage".into(), json!(stage));
        Refusal { failure, fields }
    }
}

fn validate_refusal(e: ValidateError) -> Refusal {
    let hint = match &e {
        ValidateError::Manifest(_) => {
            "rebuild the package with `sharelife package` from the plugin's crate"
        }
        ValidateError::FileName { .. } => "publish the file as `sharelife package` named it",
        ValidateError::NoHostLibrary { .. } => {
            "package a library for this host's target triple too (`sharelife package` builds it by default)"
        }
        ValidateError::ConfigSchema(_) => "fix the config schema in the plugin's manifest",
    };
    Failure::new(e.to_string()).hint(hint).into()
}

fn scan_refusal(e: ScanError) -> Refusal {
    let hint = match &e {
        ScanError::AdvisoryDb { .. } => {
            "pass a RustSec advisory database directory (a clone of github.com/rustsec/advisory-db)"
        }
        ScanError::Lockfile { .. } => "fix or regenerate the plugin's Cargo.lock and package again",
        _ => "package a library built for a supported target",
    };
    Failure::new(e.to_string()).hint(hint).into()
}
