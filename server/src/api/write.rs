//! `POST /api/tickets/{id}/actions`, `POST /api/tickets/{id}/comments` and
//! `POST /api/tickets`: writes performed as the caller.
//!
//! A handler checks the request's shape and hands the hub thread an
//! [`Input::Write`] with the caller's principal and a oneshot for the
//! answer; the thread (`relay/records.rs`) runs the client-core `Device`
//! operation the CLI runs, as that user, and answers with the ticket as it
//! now stands. Nothing here writes to the store.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use client_core::device::{DeviceError, EventInput};
use client_core::ids::{GridCode, TicketId};
use client_core::model::lifecycle::{Action, ConflictReason, Rating};
use client_core::model::ticket::{Kind, Location, NewTicket, Source, Ticket, Urgency};
use client_core::repo::RepoError;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::detail::Detail;
use super::tickets::ticket_id;
use super::{ApiError, ApiResult, Request};
use crate::access::WriteRefusal;
use crate::auth::Principal;
use crate::connection::Shared;
use crate::relay::Input;

/// What the caller asks the hub thread to do.
#[derive(Debug)]
pub(crate) enum Operation {
    /// `Device::act`: a lifecycle action.
    Act {
        ticket: TicketId,
        action: Action,
        input: EventInput,
    },
    /// `Device::comment`.
    Comment { ticket: TicketId, text: String },
    /// `Device::report`: a new ticket (12345 transfers, tasks from above).
    Report(Box<NewTicket>),
}

impl Operation {
    /// The ticket it is about.
    pub(crate) fn ticket(&self) -> TicketId {
        match self {
            Operation::Act { ticket, .. } | Operation::Comment { ticket, .. } => *ticket,
            Operation::Report(t) => t.id,
        }
    }

    /// For logs and the audit trail.
    pub(crate) fn describe(&self) -> String {
        match self {
            Operation::Act { action, .. } => format!("records API: {action}"),
            Operation::Comment { .. } => "records API: comment".to_owned(),
            Operation::Report(_) => "records API: reported".to_owned(),
        }
    }
}

/// A write for the hub thread, with where to answer.
#[derive(Debug)]
pub(crate) struct WriteRequest {
    pub principal: Arc<Principal>,
    pub operation: Operation,
    /// The relay's clock when the request arrived (the event's time).
    pub now: i64,
    pub reply: oneshot::Sender<Result<Written, WriteError>>,
}

/// The ticket after the write, and whether the caller may still change it.
#[derive(Debug)]
pub(crate) struct Written {
    pub ticket: Ticket,
    pub may_change: bool,
}

/// Why the hub thread did not perform a write.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error(
        "no ticket {0} in your scope; check the id (/api/tickets lists yours), or sync the \
         device that recorded it"
    )]
    Unknown(TicketId),
    #[error(
        "ticket {0} already exists and was not reported by you; leave out `id` for a new \
         ticket (an `id` is only for retrying your own report)"
    )]
    IdTaken(TicketId),
    #[error("{0}")]
    Refused(#[source] WriteRefusal),
    #[error("{0}")]
    Device(#[source] DeviceError),
    #[error(
        "{reason}: the relay cannot store changes now and takes them again once it can; \
         nothing was changed, retry later"
    )]
    ReadOnly { reason: String },
    #[error(
        "the relay's actor for `{user}` is registered to `{owner}`; nothing was changed. \
         Tell the relay's admin (this should not happen)"
    )]
    ActorTaken { user: String, owner: String },
    #[error("could not read the relay's store: {0}")]
    Store(#[source] RepoError),
    #[error("the relay is shutting down; retry in a moment")]
    Stopping,
}

/// The machine code of a lifecycle refusal (`ConflictReason`'s `kind`).
fn lifecycle_code(reason: &ConflictReason) -> &'static str {
    match reason {
        ConflictReason::Concurrent { .. } => "concurrent",
        ConflictReason::WrongState { .. } => "wrong_state",
        ConflictReason::ForbiddenRole { .. } => "forbidden_role",
        ConflictReason::HandlerVerifies { .. } => "handler_verifies",
        ConflictReason::MissingField { .. } => "missing_field",
        ConflictReason::Unreadable { .. } => "unreadable",
        ConflictReason::ExtensionPending { .. } => "extension_pending",
        ConflictReason::NoPendingExtension { .. } => "no_pending_extension",
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        let message = e.to_string();
        let (status, reason) = match &e {
            WriteError::Unknown(_) => (StatusCode::NOT_FOUND, "not_found"),
            WriteError::IdTaken(_) => (StatusCode::CONFLICT, "id_taken"),
            WriteError::Refused(_) => (StatusCode::FORBIDDEN, "forbidden"),
            WriteError::Device(d) => match d {
                DeviceError::Transition {
                    reason: ConflictReason::ForbiddenRole { .. },
                    ..
                }
                | DeviceError::ReadOnly(_) => (StatusCode::FORBIDDEN, "forbidden_role"),
                DeviceError::Transition { reason, .. } => {
                    (StatusCode::CONFLICT, lifecycle_code(reason))
                }
                DeviceError::AfterPhotosRequired { .. } => (
                    StatusCode::CONFLICT,
                    client_core::device::AFTER_PHOTOS_REQUIRED,
                ),
                DeviceError::NotNearlyDue { .. } => {
                    (StatusCode::CONFLICT, client_core::device::NOT_NEARLY_DUE)
                }
                DeviceError::ForbiddenGrid { .. } => (StatusCode::FORBIDDEN, "forbidden"),
                DeviceError::UnknownTicket(_) => (StatusCode::NOT_FOUND, "not_found"),
                DeviceError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
                _ => return ApiError::internal("perform the change", d),
            },
            WriteError::ReadOnly { .. } => (StatusCode::SERVICE_UNAVAILABLE, "read_only"),
            WriteError::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "stopping"),
            WriteError::ActorTaken { .. } | WriteError::Store(_) => {
                return ApiError::internal("perform the change", &e);
            }
        };
        ApiError::new(status, reason, message)
    }
}

/// Sends `operation` to the hub thread as `p` and waits for its answer.
async fn perform(shared: &Shared, p: Principal, operation: Operation) -> ApiResult<Written> {
    let (reply, answer) = oneshot::channel();
    let request = WriteRequest {
        principal: Arc::new(p),
        operation,
        now: super::now(),
        reply,
    };
    shared
        .hub
        .send(Input::Write(Box::new(request)))
        .await
        .map_err(|_| ApiError::from(WriteError::Stopping))?;
    match answer.await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(WriteError::Stopping.into()),
    }
}

/// The ticket after a write, as `GET /api/tickets/{id}` shows it (on the
/// blocking pool: it asks the photo store which photos it holds).
async fn detail(shared: &Shared, p: Principal, w: Written) -> ApiResult<Detail> {
    let blobs = shared.blobs.clone();
    super::blocking(move || {
        let uploaded = super::detail::uploaded_photos(&blobs, &w.ticket)
            .map_err(|e| ApiError::internal("read the photo store", &e.chain()))?;
        Ok(Detail::of(
            &p,
            &w.ticket,
            w.may_change,
            super::now(),
            &uploaded,
        ))
    })
    .await
}

/// Decodes a JSON body, answering 400 with serde's reason.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not the JSON this route takes ({e}); /api/openapi.json describes it"
        ))
    })
}

/// `POST /api/tickets/{id}/actions`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    /// ISO 8601, or a day (midnight, +08:00).
    #[serde(default)]
    due_at: Option<String>,
    #[serde(default)]
    rating: Option<Rating>,
    #[serde(default)]
    duplicate_of: Option<String>,
}

impl ActionBody {
    fn operation(self, ticket: TicketId) -> ApiResult<Operation> {
        let action: Action =
            self.action
                .trim()
                .parse()
                .map_err(|e: client_core::model::UnknownName| {
                    ApiError::bad_request(format!("action: {e}"))
                })?;
        let due_at = self
            .due_at
            .as_deref()
            .map(|d| super::parse_instant("due_at", d.trim()))
            .transpose()?;
        let duplicate_of = self
            .duplicate_of
            .as_deref()
            .map(|d| {
                d.trim().parse::<TicketId>().map_err(|_| {
                    ApiError::bad_request(
                        "`duplicate_of` is not a ticket id; give the original's id",
                    )
                })
            })
            .transpose()?;
        Ok(Operation::Act {
            ticket,
            action,
            input: EventInput {
                note: self.note,
                unit: self
                    .unit
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty()),
                due_at,
                duplicate_of,
                rating: self.rating,
            },
        })
    }
}

/// `POST /api/tickets/{id}/actions`: 200 with the ticket as it now stands.
pub(crate) async fn act(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Request,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/tickets/{id}/actions")?;
        let ticket = ticket_id(&id)?;
        let op = body::<ActionBody>(&bytes)?.operation(ticket)?;
        let written = perform(&shared, p.clone(), op).await?;
        detail(&shared, p, written).await
    };
    match answer.await {
        Ok(d) => Json(d).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
}

/// `POST /api/tickets/{id}/comments`: 201 with the ticket.
pub(crate) async fn comment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Request,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/tickets/{id}/comments")?;
        let ticket = ticket_id(&id)?;
        let CommentBody { text } = body(&bytes)?;
        let written = perform(&shared, p.clone(), Operation::Comment { ticket, text }).await?;
        detail(&shared, p, written).await
    };
    match answer.await {
        Ok(d) => (StatusCode::CREATED, Json(d)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    lat: f64,
    lon: f64,
    #[serde(default)]
    accuracy: Option<f64>,
    #[serde(default)]
    address: Option<String>,
}

/// `POST /api/tickets`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTicketBody {
    /// A ticket id chosen by the client, so a retried request records the
    /// ticket once; a new one by default.
    #[serde(default)]
    id: Option<String>,
    grid: String,
    kind: Kind,
    source: Source,
    category: String,
    urgency: Urgency,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: Option<LocationBody>,
}

impl NewTicketBody {
    fn ticket(self) -> ApiResult<NewTicket> {
        let id = match self.id.as_deref().map(str::trim) {
            Some(id) => id.parse().map_err(|_| {
                ApiError::bad_request("`id` is not a ticket id; leave it out for a new one")
            })?,
            None => TicketId::random(),
        };
        let grid = GridCode::new(self.grid.trim())
            .map_err(|e| ApiError::bad_request(format!("grid: {e}")))?;
        if let Some(l) = &self.location
            && !(l.lat.is_finite()
                && l.lon.is_finite()
                && (-90.0..=90.0).contains(&l.lat)
                && (-180.0..=180.0).contains(&l.lon))
        {
            return Err(ApiError::bad_request(
                "`location` needs a WGS-84 lat (-90..90) and lon (-180..180)",
            ));
        }
        Ok(NewTicket {
            id,
            grid,
            source: self.source,
            kind: self.kind,
            category: self.category.trim().to_owned(),
            urgency: self.urgency,
            title: self.title,
            description: self.description,
            location: self.location.map(|l| Location {
                lat: l.lat,
                lon: l.lon,
                accuracy_m: l.accuracy,
                address: l.address,
            }),
            resident: None,
        })
    }
}

/// `POST /api/tickets`: 201 with the new ticket.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    req: Request,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let p = req.caller(&shared, "/api/tickets")?;
        let t = body::<NewTicketBody>(&bytes)?.ticket()?;
        let written = perform(&shared, p.clone(), Operation::Report(Box::new(t))).await?;
        detail(&shared, p, written).await
    };
    match answer.await {
        Ok(d) => (StatusCode::CREATED, Json(d)).into_response(),
        Err(e) => e.into_response(),
    }
}
