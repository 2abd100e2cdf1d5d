//! Admins' lists: `GET /api/admin/users`, `/grids`, `/tokens` (never a
//! hash) and `/audit?limit=` (the newest rows first).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use client_core::model::lifecycle::Role;
use serde::Serialize;

use super::{ApiError, ApiResult, Request, blocking, iso, iso_opt};
use crate::auth::Principal;
use crate::connection::Shared;
use crate::registry::{Registry, Scope};

/// Audit rows `/api/admin/audit` answers unless `limit` says otherwise,
/// and at most.
const DEFAULT_AUDIT: usize = 100;
const MAX_AUDIT: usize = 10_000;

fn admin(shared: &Shared, req: &Request, what: &'static str) -> ApiResult<Principal> {
    let p = req.caller(shared, what)?;
    if p.role != Role::Admin {
        return Err(ApiError::forbidden(format!(
            "{what} is for admins; `{}` is a {}",
            p.user, p.role
        )));
    }
    Ok(p)
}

fn no_parameters(req: &Request, what: &str) -> ApiResult<()> {
    match req.pairs()?.first() {
        None => Ok(()),
        Some((k, _)) => Err(ApiError::bad_request(format!(
            "unknown parameter `{}`; {what} takes none",
            client_core::clip::clip(k)
        ))),
    }
}

fn answer<T: Serialize>(result: ApiResult<T>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Serialize)]
struct UserJson {
    name: String,
    role: Role,
    scope: Scope,
    created_at: Option<String>,
}

/// `GET /api/admin/users`.
pub(crate) async fn users(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let result = async {
        admin(&shared, &req, "/api/admin/users")?;
        no_parameters(&req, "/api/admin/users")?;
        let store = shared.store.clone();
        blocking(move || {
            let db = store.database();
            let users = Registry::reader(&db)
                .users()
                .map_err(|e| ApiError::internal("read the registry", &e))?;
            Ok(Items {
                items: users
                    .into_iter()
                    .map(|u| UserJson {
                        name: u.name,
                        role: u.role,
                        scope: u.scope,
                        created_at: iso(u.created_at),
                    })
                    .collect(),
            })
        })
        .await
    };
    answer(result.await)
}

/// `GET /api/admin/grids`.
pub(crate) async fn grids(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let result = async {
        admin(&shared, &req, "/api/admin/grids")?;
        no_parameters(&req, "/api/admin/grids")?;
        let store = shared.store.clone();
        blocking(move || {
            let db = store.database();
            let grids = Registry::reader(&db)
                .grids()
                .map_err(|e| ApiError::internal("read the registry", &e))?;
            Ok(Items { items: grids })
        })
        .await
    };
    answer(result.await)
}

/// A token as an admin sees it: its id (the first hex digits of its
/// hash, as `token revoke` takes it), never the hash or the token.
#[derive(Serialize)]
struct TokenJson {
    id: String,
    user: String,
    label: Option<String>,
    issued_at: Option<String>,
    revoked_at: Option<String>,
}

/// `GET /api/admin/tokens`.
pub(crate) async fn tokens(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let result = async {
        admin(&shared, &req, "/api/admin/tokens")?;
        no_parameters(&req, "/api/admin/tokens")?;
        let store = shared.store.clone();
        blocking(move || {
            let db = store.database();
            let tokens = Registry::reader(&db)
                .tokens()
                .map_err(|e| ApiError::internal("read the registry", &e))?;
            Ok(Items {
                items: tokens
                    .into_iter()
                    .map(|t| TokenJson {
                        id: t.id,
                        user: t.user,
                        label: t.label,
                        issued_at: iso(t.issued_at),
                        revoked_at: iso_opt(t.revoked_at),
                    })
                    .collect(),
            })
        })
        .await
    };
    answer(result.await)
}

/// `GET /api/admin/audit?limit=`: the newest rows first.
pub(crate) async fn audit(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let result = async {
        admin(&shared, &req, "/api/admin/audit")?;
        let mut limit = DEFAULT_AUDIT;
        for (key, value) in req.pairs()? {
            match key.as_str() {
                "limit" => {
                    limit = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_AUDIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "`limit` is a number from 1 to {MAX_AUDIT}"
                            ))
                        })?;
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter `{}`; the audit log takes limit",
                        client_core::clip::clip(other)
                    )));
                }
            }
        }
        let store = shared.store.clone();
        blocking(move || {
            let rows = crate::audit::latest(&store.database(), limit)
                .map_err(|e| ApiError::internal("read the audit trail", &e))?;
            Ok(Items {
                items: rows
                    .into_iter()
                    .map(|record| {
                        // As every time in the API: ISO 8601 at +08:00.
                        let mut row = serde_json::to_value(&record).unwrap_or_default();
                        row["at"] = iso(record.at).into();
                        row
                    })
                    .collect(),
            })
        })
        .await
    };
    answer(result.await)
}
