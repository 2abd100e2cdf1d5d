//! The city the access tests run in: 文三街道 has 幸福社区 (grid G-01) and
//! 和平社区 (G-02); 古荡街道 has 翠苑社区 (G-03); all in 西湖区. A relay
//! with these users, a ticket in each grid, and the G-01 ticket accepted
//! and dispatched to the unit `wuye`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use client_core::device::{EventInput, Identity};
use client_core::ids::{DocumentId, GridCode, TicketId};
use client_core::model::lifecycle::{Action, Role};
use client_core::model::ticket::{Kind, NewTicket, Source, Urgency};
use client_core::store::RedbStore;
use server::Config;
use server::audit::AuditFilter;
use server::registry::{GridRecord, Registry};

use super::{SyncClient, TestServer};

pub fn code(c: &str) -> GridCode {
    GridCode::new(c).unwrap()
}

pub fn ticket_in(grid: &str, title: &str) -> NewTicket {
    NewTicket {
        id: TicketId::random(),
        grid: code(grid),
        source: Source::Patrol,
        kind: Kind::Event,
        category: "0201".into(),
        urgency: Urgency::Normal,
        title: title.into(),
        description: "住户 张三 13800000000".into(),
        location: None,
        resident: None,
    }
}

/// Users by name: (role, scope).
pub const USERS: &[(&str, Role, &str)] = &[
    ("wang", Role::Worker, "grids:G-01"),
    ("liu", Role::Worker, "grids:G-01"),
    ("li", Role::Worker, "grids:G-02"),
    ("sun", Role::Worker, "grids:G-03"),
    ("chen", Role::Supervisor, "community:幸福社区"),
    ("zhou", Role::Supervisor, "street:文三街道"),
    ("wuye", Role::Unit, "street:文三街道"),
    ("shuiwu", Role::Unit, "street:文三街道"),
    ("zhao", Role::Reviewer, "district:西湖区"),
    ("root", Role::Admin, "all"),
];

/// Sets up the registry in a new relay database; returns each user's token.
pub fn registry(path: &Path) -> BTreeMap<&'static str, String> {
    let store = RedbStore::open(path).unwrap();
    let db = store.database();
    let r = Registry::new(&db).unwrap();
    for (grid, community, street) in [
        ("G-01", "幸福社区", "文三街道"),
        ("G-02", "和平社区", "文三街道"),
        ("G-03", "翠苑社区", "古荡街道"),
    ] {
        r.add_grid(&GridRecord {
            code: code(grid),
            name: format!("{grid} 网格"),
            community: community.into(),
            street: street.into(),
            district: "西湖区".into(),
        })
        .unwrap();
    }
    let mut tokens = BTreeMap::new();
    for (name, role, scope) in USERS {
        r.add_user(name, *role, scope.parse().unwrap()).unwrap();
        tokens.insert(*name, r.issue_token(name, None).unwrap().0);
    }
    tokens
}

pub fn role_of(user: &str) -> Role {
    USERS.iter().find(|(n, _, _)| *n == user).unwrap().1
}

/// A device of `user` that may write to `grids` locally (the relay is what
/// is being tested, not the device's own checks).
pub fn identity(user: &str, grids: &[&str]) -> Identity {
    Identity::new(user, role_of(user), grids.iter().map(|g| code(g)).collect())
}

pub struct City {
    pub server: TestServer,
    pub tokens: BTreeMap<&'static str, String>,
    pub path: std::path::PathBuf,
    pub _dir: tempfile::TempDir,
    /// A ticket in each grid, reported by that grid's worker; the G-01 one
    /// accepted and dispatched to `wuye` by `zhou`.
    pub t1: TicketId,
    pub t2: TicketId,
    pub t3: TicketId,
}

impl City {
    pub async fn start(config: Config) -> Self {
        Self::start_with(config, |_| {}).await
    }

    /// [`City::start`], with `before` run on the database file before the
    /// relay first serves it (as data an older relay left).
    pub async fn start_with(config: Config, before: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.redb");
        let tokens = registry(&path);
        before(&path);
        let server = TestServer::start(&path, config).await;
        let mut city = City {
            server,
            tokens,
            path,
            _dir: dir,
            t1: TicketId::random(),
            t2: TicketId::random(),
            t3: TicketId::random(),
        };
        for (user, grid) in [("wang", "G-01"), ("li", "G-02"), ("sun", "G-03")] {
            let mut w = city.join(user, &[grid]).await;
            let id = w
                .device
                .report(&ticket_in(grid, &format!("{grid} 路灯")), 1)
                .unwrap();
            w.try_push(&id.document_id()).await.unwrap();
            w.try_push(&code(grid).index_document_id()).await.unwrap();
            match grid {
                "G-01" => city.t1 = id,
                "G-02" => city.t2 = id,
                _ => city.t3 = id,
            }
        }
        let mut zhou = city.join("zhou", &["G-01", "G-02"]).await;
        assert!(zhou.fetch(&city.t1.document_id()).await);
        zhou.device
            .act(city.t1, Action::Accepted, EventInput::default(), 2)
            .unwrap();
        let dispatch = EventInput {
            unit: Some("wuye".into()),
            due_at: Some(1_000_000),
            ..EventInput::default()
        };
        zhou.device
            .act(city.t1, Action::Dispatched, dispatch, 3)
            .unwrap();
        zhou.try_push(&city.t1.document_id()).await.unwrap();
        city
    }

    /// Stops the relay, runs `offline` on its database file, and serves it
    /// again (on a new port), as an operator would around maintenance.
    pub async fn restart(self, offline: impl FnOnce(&Path)) -> City {
        let City {
            server,
            tokens,
            path,
            _dir,
            t1,
            t2,
            t3,
        } = self;
        server.stop().await.unwrap();
        offline(&path);
        let server = TestServer::start(&path, config()).await;
        City {
            server,
            tokens,
            path,
            _dir,
            t1,
            t2,
            t3,
        }
    }

    pub async fn join(&self, user: &str, grids: &[&str]) -> SyncClient {
        SyncClient::join_as(
            &self.server,
            identity(user, grids),
            Some(&self.tokens[user]),
        )
        .await
    }

    pub async fn reads(&self, user: &str, doc: DocumentId) -> bool {
        let mut c = self.join(user, &[]).await;
        c.fetch(&doc).await
    }

    pub fn audit(&self, filter: &AuditFilter) -> Vec<server::audit::AuditRecord> {
        server::audit::query(&self.server.database().database(), filter).unwrap()
    }
}

pub fn config() -> Config {
    Config {
        registry_poll: Duration::from_millis(20),
        ..Config::default()
    }
}
