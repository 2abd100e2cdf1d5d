//! The relay's registry: grids, users and their scopes, and bearer tokens,
//! in tables of the relay's redb file beside the documents.
//!
//! A token is shown once, when issued; only its SHA-256 is stored, under
//! which it is looked up at the WebSocket upgrade. A token's *id* (the
//! first 12 hex digits of its hash) names it in listings and revocations.
//!
//! A user may also have a password, for the console's `POST /api/login`:
//! only its Argon2id hash ([`crate::password`]) is stored, in a table of its
//! own, so a user record (which listings print) never carries it. Setting
//! a password ends the user's console sessions (`crate::session`) in the
//! same transaction.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use client_core::ids::{GridCode, IdError};
use client_core::model::catalog::{Catalog, Category};
use client_core::model::lifecycle::Role;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const GRIDS: TableDefinition<&str, &[u8]> = TableDefinition::new("registry_grids");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("registry_users");
/// SHA-256 hex of the token → JSON [`TokenRecord`].
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("registry_tokens");
/// User name → the PHC string of the user's Argon2id password hash.
const PASSWORDS: TableDefinition<&str, &str> = TableDefinition::new("registry_passwords");
/// `generation` → a counter bumped by every registry change, so a serving
/// relay (another process) notices revocations and new grids or users by
/// polling one key instead of scanning the tables.
const STATE: TableDefinition<&str, u64> = TableDefinition::new("registry_state");
const GENERATION: &str = "generation";
/// `catalog` → the JSON [`Catalog`] imported last; absent: the default
/// shipped with the relay ([`crate::catalog::default_catalog`]).
const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("registry_catalog");
const CATALOG_KEY: &str = "catalog";

/// A grid and where it sits in the administrative hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridRecord {
    pub code: GridCode,
    pub name: String,
    /// 社区
    pub community: String,
    /// 街道
    pub street: String,
    /// 区
    pub district: String,
}

/// What part of the city a user works in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Scope {
    Grids(Vec<GridCode>),
    Community(String),
    Street(String),
    District(String),
    /// Everything (admins).
    All,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Grids(g) => {
                let codes: Vec<&str> = g.iter().map(GridCode::as_str).collect();
                write!(f, "grids {}", codes.join(","))
            }
            Scope::Community(c) => write!(f, "community {c}"),
            Scope::Street(s) => write!(f, "street {s}"),
            Scope::District(d) => write!(f, "district {d}"),
            Scope::All => f.write_str("everything"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    pub scope: Scope,
    /// ms since the epoch.
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// First 12 hex digits of the hash: how listings and revocation name it.
    pub id: String,
    pub user: String,
    pub label: Option<String>,
    pub issued_at: i64,
    pub revoked_at: Option<i64>,
}

/// Why a registry operation was refused or failed. Messages name their
/// cause, so no field is also the error's `source()`.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("grid {0} already exists; `gridsync-server grid list` shows it")]
    DuplicateGrid(GridCode),
    #[error("unknown grid {0}; add it first with `gridsync-server grid add --code {0} ...`")]
    UnknownGrid(GridCode),
    #[error("user `{0}` already exists; choose another name or issue them a new token")]
    DuplicateUser(String),
    #[error("unknown user `{0}`; `gridsync-server user list` shows who exists")]
    UnknownUser(String),
    #[error("no grid belongs to {0}; add its grids first, or check the spelling")]
    EmptyScope(String),
    #[error("{0}")]
    BadScope(String),
    /// A scope naming a grid code that is not one.
    #[error("{0}")]
    BadGridCode(IdError),
    #[error("no token with id `{0}`; `gridsync-server token list` shows the ids")]
    UnknownToken(String),
    #[error(
        "the id `{prefix}` matches more than one token ({matches}); nothing was revoked. \
         Give more digits of the id"
    )]
    AmbiguousToken { prefix: String, matches: String },
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    #[error("a stored registry record could not be read ({0}); the database may be damaged")]
    Decode(serde_json::Error),
    #[error("registry storage error: {0}")]
    Storage(redb::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Storage(e.into())
            }
        }
    )*};
}
impl From<redb::Error> for RegistryError {
    fn from(e: redb::Error) -> Self {
        RegistryError::Storage(e)
    }
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// SHA-256 hex of a token: what is stored and looked up.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new secret: `prefix` and 32 bytes (244 random bits from the OS's
/// CSPRNG, as UUIDv4 draws from getrandom) in base58.
pub(crate) fn secret(prefix: &str) -> String {
    let mut secret = Vec::with_capacity(32);
    secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("{prefix}{}", bs58::encode(secret).into_string())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(RegistryError::Decode)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("registry records serialize")
}

/// The registry over the relay's database.
#[derive(Debug, Clone, Copy)]
pub struct Registry<'a> {
    db: &'a Database,
}

impl<'a> Registry<'a> {
    /// Opens (creating if needed) the registry tables.
    pub fn new(db: &'a Database) -> Result<Self, RegistryError> {
        let tx = db.begin_write()?;
        tx.open_table(GRIDS)?;
        tx.open_table(USERS)?;
        tx.open_table(TOKENS)?;
        tx.open_table(PASSWORDS)?;
        tx.open_table(STATE)?;
        tx.open_table(CATALOG)?;
        crate::session::create_tables(&tx)?;
        tx.commit()?;
        Ok(Self { db })
    }

    /// The registry over a database whose tables [`Registry::new`] has
    /// already created: no write transaction (the relay reads the registry
    /// at every upgrade).
    pub(crate) fn reader(db: &'a Database) -> Self {
        Self { db }
    }

    /// The database the registry is in.
    pub(crate) fn database(&self) -> &'a Database {
        self.db
    }

    /// Bumps the generation counter inside `tx`.
    fn bump(tx: &redb::WriteTransaction) -> Result<(), RegistryError> {
        let mut t = tx.open_table(STATE)?;
        let next = t.get(GENERATION)?.map_or(0, |v| v.value()) + 1;
        t.insert(GENERATION, next)?;
        Ok(())
    }

    /// A counter that changes whenever grids, users, tokens or the catalog change
    /// (issuing a token excepted: it grants nothing to an open connection).
    pub fn generation(&self) -> Result<u64, RegistryError> {
        let tx = self.db.begin_read()?;
        match tx.open_table(STATE) {
            Ok(t) => Ok(t.get(GENERATION)?.map_or(0, |v| v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The category catalog devices receive: the one imported last, or the
    /// default shipped with the relay.
    pub fn catalog(&self) -> Result<Catalog, RegistryError> {
        let tx = self.db.begin_read()?;
        let stored = match tx.open_table(CATALOG) {
            Ok(t) => t.get(CATALOG_KEY)?.map(|v| decode(v.value())).transpose()?,
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(stored.unwrap_or_else(crate::catalog::default_catalog))
    }

    /// Replaces the catalog's categories with `categories` (or, with
    /// `extend`, adds them to it, replacing those of equal codes), under
    /// the next version, in one transaction that also bumps the registry
    /// generation (so a serving relay publishes it). Returns the new
    /// catalog.
    pub fn import_catalog(
        &self,
        categories: Vec<Category>,
        extend: bool,
    ) -> Result<Catalog, RegistryError> {
        let tx = self.db.begin_write()?;
        let catalog = {
            let mut t = tx.open_table(CATALOG)?;
            let current: Catalog = match t.get(CATALOG_KEY)? {
                Some(v) => decode(v.value())?,
                None => crate::catalog::default_catalog(),
            };
            let mut next = Catalog {
                version: current.version + 1,
                categories: if extend {
                    current.categories
                } else {
                    Default::default()
                },
            };
            for c in categories {
                next.categories.insert(c.code.clone(), c);
            }
            t.insert(CATALOG_KEY, encode(&next).as_slice())?;
            next
        };
        Self::bump(&tx)?;
        tx.commit()?;
        Ok(catalog)
    }

    /// Whether any user exists (a relay without users serves openly).
    pub fn has_users(&self) -> Result<bool, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(USERS)?;
        Ok(t.first()?.is_some())
    }

    pub fn add_grid(&self, grid: &GridRecord) -> Result<(), RegistryError> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(GRIDS)?;
            if t.get(grid.code.as_str())?.is_some() {
                return Err(RegistryError::DuplicateGrid(grid.code.clone()));
            }
            t.insert(grid.code.as_str(), encode(grid).as_slice())?;
        }
        Self::bump(&tx)?;
        tx.commit()?;
        Ok(())
    }

    pub fn grid(&self, code: &GridCode) -> Result<Option<GridRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(GRIDS)?;
        t.get(code.as_str())?.map(|v| decode(v.value())).transpose()
    }

    pub fn grids(&self) -> Result<Vec<GridRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(GRIDS)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            out.push(decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The grids a scope covers.
    pub fn grids_in(&self, scope: &Scope) -> Result<BTreeSet<GridCode>, RegistryError> {
        Ok(self
            .grids()?
            .into_iter()
            .filter(|g| match scope {
                Scope::Grids(codes) => codes.contains(&g.code),
                Scope::Community(c) => &g.community == c,
                Scope::Street(s) => &g.street == s,
                Scope::District(d) => &g.district == d,
                Scope::All => true,
            })
            .map(|g| g.code)
            .collect())
    }

    /// Adds a user after checking the scope names existing grids.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        scope: Scope,
    ) -> Result<UserRecord, RegistryError> {
        self.insert_user(name, role, scope, None)
    }

    /// [`Registry::add_user`] with a password (checked and hashed first;
    /// user and hash are written in one transaction).
    pub fn add_user_with_password(
        &self,
        name: &str,
        role: Role,
        scope: Scope,
        password: &str,
    ) -> Result<UserRecord, RegistryError> {
        let hash = crate::password::hash(password)?;
        self.insert_user(name, role, scope, Some(&hash))
    }

    fn insert_user(
        &self,
        name: &str,
        role: Role,
        scope: Scope,
        password_hash: Option<&str>,
    ) -> Result<UserRecord, RegistryError> {
        if name.trim().is_empty() {
            return Err(RegistryError::BadScope("a user needs a name".into()));
        }
        match (&scope, role) {
            (Scope::All, Role::Admin) => {}
            (Scope::All, _) => {
                return Err(RegistryError::BadScope(format!(
                    "only admins may see everything; give `{name}` grids, a community, a street or a district"
                )));
            }
            (Scope::Grids(codes), _) => {
                if codes.is_empty() {
                    return Err(RegistryError::BadScope("name at least one grid".into()));
                }
                for code in codes {
                    if self.grid(code)?.is_none() {
                        return Err(RegistryError::UnknownGrid(code.clone()));
                    }
                }
            }
            (other, _) => {
                if self.grids_in(other)?.is_empty() {
                    return Err(RegistryError::EmptyScope(other.to_string()));
                }
            }
        }
        let user = UserRecord {
            name: name.to_owned(),
            role,
            scope,
            created_at: now_ms(),
        };
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(USERS)?;
            if t.get(name)?.is_some() {
                return Err(RegistryError::DuplicateUser(name.to_owned()));
            }
            t.insert(name, encode(&user).as_slice())?;
        }
        if let Some(hash) = password_hash {
            tx.open_table(PASSWORDS)?.insert(name, hash)?;
        }
        Self::bump(&tx)?;
        tx.commit()?;
        Ok(user)
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(USERS)?;
        t.get(name)?.map(|v| decode(v.value())).transpose()
    }

    /// Sets `name`'s password (checked and hashed with Argon2id) and ends
    /// every console session of theirs, in one transaction; returns how
    /// many sessions ended. Device tokens are untouched.
    pub fn set_password(&self, name: &str, password: &str) -> Result<usize, RegistryError> {
        if self.user(name)?.is_none() {
            return Err(RegistryError::UnknownUser(name.to_owned()));
        }
        let hash = crate::password::hash(password)?;
        let tx = self.db.begin_write()?;
        tx.open_table(PASSWORDS)?.insert(name, hash.as_str())?;
        let ended = crate::session::end_all_of(&tx, name)?;
        tx.commit()?;
        Ok(ended)
    }

    /// The PHC string of `name`'s password hash, if they have one.
    pub(crate) fn password_hash(&self, name: &str) -> Result<Option<String>, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(PASSWORDS)?;
        Ok(t.get(name)?.map(|v| v.value().to_owned()))
    }

    /// Whether `name` has a password (for listings).
    pub fn has_password(&self, name: &str) -> Result<bool, RegistryError> {
        Ok(self.password_hash(name)?.is_some())
    }

    pub fn users(&self) -> Result<Vec<UserRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(USERS)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            out.push(decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// Issues a new token for `user`; returns the plaintext (shown once)
    /// and the stored record.
    pub fn issue_token(
        &self,
        user: &str,
        label: Option<String>,
    ) -> Result<(String, TokenRecord), RegistryError> {
        if self.user(user)?.is_none() {
            return Err(RegistryError::UnknownUser(user.to_owned()));
        }
        let token = secret("gs_");
        let hash = token_hash(&token);
        let record = TokenRecord {
            id: hash[..12].to_owned(),
            user: user.to_owned(),
            label,
            issued_at: now_ms(),
            revoked_at: None,
        };
        let tx = self.db.begin_write()?;
        tx.open_table(TOKENS)?
            .insert(hash.as_str(), encode(&record).as_slice())?;
        tx.commit()?;
        Ok((token, record))
    }

    /// Revokes the token whose id (or hash) starts with `id`.
    pub fn revoke_token(&self, id: &str) -> Result<TokenRecord, RegistryError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 6 {
            return Err(RegistryError::UnknownToken(id));
        }
        let tx = self.db.begin_write()?;
        let revoked = {
            let mut t = tx.open_table(TOKENS)?;
            let mut found = Vec::new();
            for entry in t.range(id.as_str()..)? {
                let (k, v) = entry?;
                if !k.value().starts_with(&id) {
                    break;
                }
                found.push((k.value().to_owned(), decode::<TokenRecord>(v.value())?));
            }
            if found.len() > 1 {
                let matches = found
                    .iter()
                    .map(|(_, r)| format!("{} of `{}`", r.id, r.user))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(RegistryError::AmbiguousToken {
                    prefix: id,
                    matches,
                });
            }
            let (hash, mut record) = found
                .pop()
                .ok_or_else(|| RegistryError::UnknownToken(id.clone()))?;
            record.revoked_at.get_or_insert_with(now_ms);
            t.insert(hash.as_str(), encode(&record).as_slice())?;
            record
        };
        Self::bump(&tx)?;
        tx.commit()?;
        Ok(revoked)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TOKENS)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            out.push(decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The token's record and user, if it is known and not revoked.
    pub fn authenticate(
        &self,
        token: &str,
    ) -> Result<Option<(TokenRecord, UserRecord)>, RegistryError> {
        self.authenticate_hash(&token_hash(token))
    }

    /// [`Registry::authenticate`] by the token's hash (what a serving
    /// relay keeps to re-check its open connections).
    pub fn authenticate_hash(
        &self,
        hash: &str,
    ) -> Result<Option<(TokenRecord, UserRecord)>, RegistryError> {
        let record: Option<TokenRecord> = {
            let tx = self.db.begin_read()?;
            let t = tx.open_table(TOKENS)?;
            t.get(hash)?.map(|v| decode(v.value())).transpose()?
        };
        match record {
            Some(r) if r.revoked_at.is_none() => Ok(self.user(&r.user)?.map(|u| (r, u))),
            _ => Ok(None),
        }
    }
}

impl FromStr for Scope {
    type Err = RegistryError;

    /// `grids:GL-01,GL-02`, `community:幸福社区`, `street:文三街道`,
    /// `district:西湖区` or `all`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            RegistryError::BadScope(format!(
                "`{s}` is not a scope: use grids:CODE[,CODE...], community:NAME, street:NAME, district:NAME or all"
            ))
        };
        if s == "all" {
            return Ok(Scope::All);
        }
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        let value = value.trim();
        if value.is_empty() {
            return Err(bad());
        }
        match kind {
            "grids" | "grid" => value
                .split(',')
                .map(|c| GridCode::new(c.trim()).map_err(RegistryError::BadGridCode))
                .collect::<Result<Vec<_>, _>>()
                .map(Scope::Grids),
            "community" => Ok(Scope::Community(value.to_owned())),
            "street" => Ok(Scope::Street(value.to_owned())),
            "district" => Ok(Scope::District(value.to_owned())),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_file() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("r.redb")).unwrap();
        (dir, db)
    }

    fn grid(code: &str, community: &str) -> GridRecord {
        GridRecord {
            code: GridCode::new(code).unwrap(),
            name: format!("{code} 网格"),
            community: community.into(),
            street: "文三街道".into(),
            district: "西湖区".into(),
        }
    }

    #[test]
    fn scopes_resolve_to_grids_and_bad_ones_are_refused() {
        let (_d, db) = registry_file();
        let r = Registry::new(&db).unwrap();
        r.add_grid(&grid("GL-01", "幸福社区")).unwrap();
        r.add_grid(&grid("GL-02", "和平社区")).unwrap();
        assert!(matches!(
            r.add_grid(&grid("GL-01", "x")),
            Err(RegistryError::DuplicateGrid(_))
        ));
        let community: Scope = "community:幸福社区".parse().unwrap();
        assert_eq!(r.grids_in(&community).unwrap().len(), 1);
        assert_eq!(
            r.grids_in(&"street:文三街道".parse().unwrap())
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            r.add_user("w", Role::Worker, "grids:GL-99".parse().unwrap()),
            Err(RegistryError::UnknownGrid(_))
        ));
        assert!(matches!(
            r.add_user("s", Role::Supervisor, "community:无此社区".parse().unwrap()),
            Err(RegistryError::EmptyScope(_))
        ));
        assert!(matches!(
            r.add_user("s", Role::Supervisor, Scope::All),
            Err(RegistryError::BadScope(_))
        ));
        r.add_user("wang", Role::Worker, "grids:GL-01".parse().unwrap())
            .unwrap();
        assert!(matches!(
            r.add_user("wang", Role::Worker, "grids:GL-01".parse().unwrap()),
            Err(RegistryError::DuplicateUser(_))
        ));
        assert!("bogus".parse::<Scope>().is_err());
        assert!("grids:".parse::<Scope>().is_err());
    }

    #[test]
    fn tokens_are_stored_hashed_and_can_be_revoked() {
        let (dir, db) = registry_file();
        let r = Registry::new(&db).unwrap();
        r.add_grid(&grid("GL-01", "幸福社区")).unwrap();
        r.add_user("wang", Role::Worker, "grids:GL-01".parse().unwrap())
            .unwrap();
        let (token, record) = r.issue_token("wang", Some("phone".into())).unwrap();
        assert!(token.starts_with("gs_"));
        assert_eq!(r.authenticate(&token).unwrap().unwrap().1.name, "wang");
        assert!(r.authenticate("gs_wrong").unwrap().is_none());
        let before = r.generation().unwrap();
        r.revoke_token(&record.id).unwrap();
        assert!(
            r.generation().unwrap() > before,
            "revocation is visible to pollers"
        );
        assert!(
            r.authenticate(&token).unwrap().is_none(),
            "a revoked token is refused"
        );
        assert!(matches!(
            r.issue_token("nobody", None),
            Err(RegistryError::UnknownUser(_))
        ));
        drop(db);
        let raw = std::fs::read(dir.path().join("r.redb")).unwrap();
        let needle = token.as_bytes();
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "no plaintext token in the file"
        );
    }

    /// Revoking by a prefix that more than one token shares used to
    /// revoke whichever came first in the table, perhaps a token of another
    /// user. Two stored hashes share the prefix `abcdef` here (issued
    /// tokens share one by chance only among thousands), and the prefix is
    /// refused with both named while neither is revoked.
    #[test]
    fn an_ambiguous_id_prefix_revokes_nothing_and_names_the_matches() {
        let (_d, db) = registry_file();
        let r = Registry::new(&db).unwrap();
        r.add_grid(&grid("GL-01", "幸福社区")).unwrap();
        for user in ["wang", "li"] {
            r.add_user(user, Role::Worker, "grids:GL-01".parse().unwrap())
                .unwrap();
        }
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(TOKENS).unwrap();
            for (hash, user) in [("abcdef01", "wang"), ("abcdef02", "li")] {
                let hash = format!("{hash}{}", "0".repeat(56));
                let record = TokenRecord {
                    id: hash[..12].to_owned(),
                    user: user.into(),
                    label: None,
                    issued_at: 0,
                    revoked_at: None,
                };
                t.insert(hash.as_str(), encode(&record).as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        let err = r.revoke_token("ABCDEF").unwrap_err();
        assert!(matches!(err, RegistryError::AmbiguousToken { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("abcdef010000 of `wang`") && text.contains("abcdef020000 of `li`"),
            "{text}"
        );
        assert!(r.tokens().unwrap().iter().all(|t| t.revoked_at.is_none()));
        assert_eq!(r.revoke_token("abcdef02").unwrap().user, "li");
    }
}
