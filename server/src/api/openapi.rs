//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the records API,
//! written by hand with `serde_json` (a test checks it against
//! [`super::ROUTES`], the list the router builds every `/api` route from).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `GET /api/openapi.json` (no token needed: it describes, it holds no data).
pub(crate) async fn serve() -> Response {
    Json(document()).into_response()
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": "the ticket id", "schema": { "type": "string" } })
}

fn ok(description: &str, body: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": body } } })
}

fn error(description: &str) -> Value {
    ok(description, schema("Error"))
}

/// The error answers every authenticated route may give.
fn errors(extra: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    out.insert("401".into(), error("no valid credentials"));
    out.insert(
        "429".into(),
        error("too many failed logins from this address"),
    );
    for (code, what) in extra {
        out.insert((*code).into(), error(what));
    }
    out
}

fn responses(success: (&str, Value), extra: &[(&str, &str)]) -> Value {
    let mut all = errors(extra);
    all.insert(success.0.into(), success.1);
    Value::Object(all)
}

fn body(schema_name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(schema_name) } } })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn time() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time", "description": "ISO 8601 at +08:00" })
}

fn enumeration(names: &[&str]) -> Value {
    json!({ "type": "string", "enum": names })
}

fn status_names() -> Vec<&'static str> {
    client_core::model::lifecycle::Status::ALL
        .iter()
        .map(|s| s.as_str())
        .collect()
}

fn action_names() -> Vec<&'static str> {
    client_core::model::lifecycle::Action::ALL
        .iter()
        .map(|a| a.as_str())
        .collect()
}

fn role_names() -> Vec<&'static str> {
    client_core::model::lifecycle::Role::ALL
        .iter()
        .map(|r| r.as_str())
        .collect()
}

/// The whole document.
pub(crate) fn document() -> Value {
    let list_params = vec![
        query("grid", "grid codes (repeat, or comma separated)", string()),
        query("community", "社区 name", string()),
        query("street", "街道 name", string()),
        query(
            "status",
            "statuses (repeat, or comma separated)",
            enumeration(&status_names()),
        ),
        query(
            "overdue",
            "only open tickets past their deadline",
            json!({ "type": "boolean" }),
        ),
        query(
            "due_soon",
            "only open tickets not yet overdue whose deadline is within 24 hours (the 即将超期 queue, as /api/queues counts it)",
            json!({ "type": "boolean" }),
        ),
        query(
            "conflict",
            "only tickets with lifecycle conflicts",
            json!({ "type": "boolean" }),
        ),
        query(
            "unit",
            "only tickets dispatched to this handling unit",
            string(),
        ),
        query("q", "text in the title, id or category", string()),
        query(
            "from",
            "reported on or after this day (YYYY-MM-DD, +08:00)",
            json!({ "type": "string", "format": "date" }),
        ),
        query(
            "to",
            "reported on or before this day (YYYY-MM-DD, +08:00)",
            json!({ "type": "string", "format": "date" }),
        ),
        query(
            "sort",
            "updated (newest first, default), reported (newest first), due (soonest first)",
            enumeration(&["updated", "reported", "due"]),
        ),
        query("cursor", "next_cursor of the previous page", string()),
        query(
            "limit",
            "items per page (default 50)",
            json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
        ),
    ];
    let paths = json!({
        "/api/tickets": {
            "get": {
                "summary": "Tickets in the caller's scope, from the summary index",
                "parameters": list_params,
                "responses": responses(("200", ok("a page of tickets", schema("Page"))), &[("400", "a bad parameter or cursor"), ("403", "a grid outside the caller's scope")]),
            },
            "post": {
                "summary": "Record a new ticket as the caller (12345 transfers, tasks from above; through client-core's Device::report)",
                "requestBody": body("NewTicket"),
                "responses": responses(("201", ok("the new ticket (or, when `id` names a ticket the caller reported, that ticket as it stands: a retry writes nothing)", schema("Detail"))), &[
                    ("400", "a bad body"),
                    ("403", "the caller's role does not report, or the grid is outside its scope"),
                    ("404", "`id` names a ticket outside the caller's scope (the answer for a missing ticket)"),
                    ("409", "`id` names a ticket the caller may read but did not report (reason id_taken): leave `id` out"),
                    ("503", "the relay's storage refuses writes for now"),
                ]),
            },
        },
        "/api/tickets/{id}/actions": {
            "post": {
                "summary": "Take a lifecycle action as the caller (through client-core's Device::act)",
                "parameters": [id_param()],
                "requestBody": body("ActionRequest"),
                "responses": responses(("200", ok("the ticket after the action", schema("Detail"))), &[
                    ("400", "a bad body"),
                    ("403", "the caller's role may not take this action, or not on this ticket (reason forbidden_role or forbidden)"),
                    ("404", "no such ticket in the caller's scope"),
                    ("409", "the lifecycle forbids it now; reason is the refusal: wrong_state, concurrent, missing_field, handler_verifies, extension_pending, no_pending_extension; or after_photos_required: handled on a ticket whose category requires a photo after the work (处置后照片) and that lists none"),
                    ("503", "the relay's storage refuses writes for now (reason read_only)"),
                ]),
            },
        },
        "/api/tickets/{id}/comments": {
            "post": {
                "summary": "Comment as the caller",
                "parameters": [id_param()],
                "requestBody": body("CommentRequest"),
                "responses": responses(("201", ok("the ticket with the comment", schema("Detail"))), &[
                    ("400", "a bad body or an empty text"),
                    ("403", "the caller may not change this ticket"),
                    ("404", "no such ticket in the caller's scope"),
                    ("503", "the relay's storage refuses writes for now"),
                ]),
            },
        },
        "/api/tickets/{id}": {
            "get": {
                "summary": "One ticket whole: fields, events, comments, conflicts and the caller's next actions",
                "parameters": [id_param()],
                "responses": responses(("200", ok("the ticket", schema("Detail"))), &[("404", "no such ticket in the caller's scope")]),
            },
        },
        "/api/queues": {
            "get": {
                "summary": "Counts for the console's 待办 queues, in the caller's scope",
                "responses": responses(("200", ok("the counts", schema("Queues"))), &[]),
            },
        },
        "/api/visits": {
            "get": {
                "summary": "Visits in the caller's scope started in a period (notes left out for reviewers)",
                "parameters": [
                    query("grid", "grid codes (repeat, or comma separated)", string()),
                    query("from", "first day (YYYY-MM-DD, +08:00); default the 1st of this month", json!({ "type": "string", "format": "date" })),
                    query("to", "last day, inclusive; default today", json!({ "type": "string", "format": "date" })),
                ],
                "responses": responses(("200", ok("the visits", json!({ "type": "object", "properties": { "items": { "type": "array", "items": schema("Visit") } } }))), &[("400", "a bad parameter"), ("403", "a grid outside the caller's scope")]),
            },
        },
        "/api/figures": {
            "get": {
                "summary": "The district-review figures (按期结案率, 满意率, counts) per grid, community and street: the export's JSON without its ticket and visit rows, same definitions and numbers. Reviewers, supervisors and admins.",
                "parameters": [
                    query("grid", "grid codes (repeat, or comma separated)", string()),
                    query("community", "社区 name", string()),
                    query("street", "街道 name", string()),
                    query("district", "区 name", string()),
                    query("from", "first day (YYYY-MM-DD, +08:00); default the 1st of this month", json!({ "type": "string", "format": "date" })),
                    query("to", "last day, inclusive; default today", json!({ "type": "string", "format": "date" })),
                ],
                "responses": responses(("200", ok("the figures", schema("Figures"))), &[("400", "a bad parameter"), ("403", "not a reviewer, supervisor or admin, or outside the caller's scope"), ("404", "the filter names no grid")]),
            },
        },
        "/api/admin/users": {
            "get": {
                "summary": "Every user (admins)",
                "responses": responses(("200", ok("the users", json!({ "type": "object", "properties": { "items": { "type": "array", "items": { "type": "object", "properties": { "name": string(), "role": enumeration(&role_names()), "scope": { "type": "object" }, "created_at": time() } } } } }))), &[("403", "not an admin")]),
            },
        },
        "/api/admin/grids": {
            "get": {
                "summary": "Every grid and where it sits (admins)",
                "responses": responses(("200", ok("the grids", json!({ "type": "object", "properties": { "items": { "type": "array", "items": { "type": "object", "properties": { "code": string(), "name": string(), "community": string(), "street": string(), "district": string() } } } } }))), &[("403", "not an admin")]),
            },
        },
        "/api/admin/tokens": {
            "get": {
                "summary": "Every device token by id, never its hash (admins)",
                "responses": responses(("200", ok("the tokens", json!({ "type": "object", "properties": { "items": { "type": "array", "items": { "type": "object", "properties": { "id": string(), "user": string(), "label": nullable("string"), "issued_at": time(), "revoked_at": time() } } } } }))), &[("403", "not an admin")]),
            },
        },
        "/api/admin/audit": {
            "get": {
                "summary": "The newest audit rows first (admins)",
                "parameters": [query("limit", "rows (default 100)", json!({ "type": "integer", "minimum": 1, "maximum": 10000 }))],
                "responses": responses(("200", ok("the rows", json!({ "type": "object", "properties": { "items": { "type": "array", "items": { "type": "object", "properties": { "at": time(), "user": nullable("string"), "peer": nullable("string"), "doc": nullable("string"), "grid": nullable("string"), "action": enumeration(&["change", "refused", "denied", "auth_failed", "revoked"]), "changes": { "type": ["integer", "null"] }, "reason": nullable("string"), "addr": nullable("string"), "count": { "type": "integer" } } } } } }))), &[("400", "a bad limit"), ("403", "not an admin")]),
            },
        },
        "/api/events": {
            "get": {
                "summary": "Server-sent events: `event: ticket` with a Summary as `data` for each ticket in the caller's scope that changes (a device's sync or an API write); a comment line every 15 s keeps it open, and on it the credential is checked again: the stream ends when its token is revoked or its session ends (logout, expiry, a new password). A subscriber that falls far behind is dropped: reconnect and reload.",
                "responses": responses(("200", json!({ "description": "the stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } })), &[]),
            },
        },
        "/api/login": {
            "post": {
                "summary": "Log in with a name and a password (the console): sets the session cookie `gridsync_session` (HttpOnly, SameSite=Strict, Path=/, Max-Age the session's lifetime, 8 h by default; Secure behind `X-Forwarded-Proto: https`). Requests with the cookie other than GET and HEAD need `X-CSRF-Token: <csrf>` and, with an `Origin`, the relay's own. A foreign `Origin` is refused (403 csrf).",
                "security": [],
                "requestBody": body("LoginRequest"),
                "responses": responses(("200", ok("who logged in, with the session's CSRF token", schema("Me"))), &[
                    ("400", "a bad body, or a name or password that is too long"),
                    ("401", "wrong user name or password (reason bad_credentials; the same for an unknown name)"),
                    ("403", "from another origin (reason csrf)"),
                    ("429", "too many wrong passwords for this name from this address (10), or for any names (50); Retry-After says when"),
                    ("503", "the relay could not store the session (reason read_only)"),
                ]),
            },
        },
        "/api/logout": {
            "post": {
                "summary": "End the request's console session and clear its cookie (needs X-CSRF-Token). Its /api/events streams end within a keep-alive tick.",
                "responses": responses(("204", json!({ "description": "ended; `Set-Cookie: gridsync_session=; Max-Age=0`" })), &[
                    ("400", "the request carries a device token, which logout does not end (reason not_a_session)"),
                    ("403", "no or a wrong X-CSRF-Token, or another origin (reason csrf)"),
                    ("503", "the relay could not end the session (reason read_only)"),
                ]),
            },
        },
        "/api/me": {
            "get": {
                "summary": "Who the credential is: user, role, scope and grids, and for a session its CSRF token",
                "responses": responses(("200", ok("the caller", schema("Me"))), &[]),
            },
        },
        "/api/tokens": {
            "post": {
                "summary": "Issue a device token to the person logged in (a session only, with X-CSRF-Token: a device token may not mint tokens). The token is shown once; the relay keeps its hash.",
                "requestBody": body("TokenRequest"),
                "responses": responses(("201", ok("the new token", json!({ "type": "object", "required": ["token", "id"], "properties": { "token": { "type": "string", "description": "gs_…, for `Authorization: Bearer` and sync" }, "id": { "type": "string", "description": "as `gridsync-server token list` names it" } } }))), &[
                    ("400", "no device label, or one longer than the relay takes"),
                    ("403", "a bearer token, not a session (reason session_required), or no X-CSRF-Token (reason csrf)"),
                    ("503", "the relay could not store the token (reason read_only)"),
                ]),
            },
        },
        "/api/export": {
            "get": {
                "summary": "The district-review export (reviewers, supervisors and admins), scoped like sync: XLSX, CSV (one table, or a zip of all), GeoJSON or JSON. Errors here are `{error}` without a reason.",
                "parameters": [
                    query("format", "xlsx, csv, geojson or json (required)", enumeration(&["xlsx", "csv", "geojson", "json"])),
                    query("table", "csv only: one table instead of a zip of all", enumeration(&["by-grid", "by-community", "by-street", "tickets", "visits"])),
                    query("from", "first day (YYYY-MM-DD); default the 1st of this month", json!({ "type": "string", "format": "date" })),
                    query("to", "last day, inclusive; default today", json!({ "type": "string", "format": "date" })),
                    query("grid", "grid codes (repeat, or comma separated)", string()),
                    query("community", "社区 name", string()),
                    query("street", "街道 name", string()),
                    query("district", "区 name", string()),
                    query("lang", "zh (default) or en: headers, sheet names and labels", enumeration(&["zh", "en"])),
                    query("offset", "the days' UTC offset, +HH:MM (default +08:00)", string()),
                    query("include_personal", "residents' names and phones (admins only)", json!({ "type": "boolean" })),
                    query("token", "a bearer token, for a download link that cannot send a header", string()),
                ],
                "responses": {
                    "200": { "description": "the export, as an attachment (Content-Disposition) with Cache-Control: no-store", "content": {
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
                        "application/zip": {},
                        "text/csv": {},
                        "application/geo+json": {},
                        "application/json": {},
                    } },
                    "400": ok("a bad parameter", schema("ExportError")),
                    "401": ok("no valid credentials", schema("ExportError")),
                    "403": ok("not a reviewer, supervisor or admin; a grid outside the scope; include_personal for a non-admin", schema("ExportError")),
                    "404": ok("the filter names no grid", schema("ExportError")),
                    "429": ok("too many failed credentials from this address", schema("ExportError")),
                },
            },
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": { "200": { "description": "the OpenAPI document", "content": { "application/json": {} } } },
            },
        },
    });
    let mut paths = paths;
    if let Some(all) = paths.as_object_mut() {
        all.extend(blob_paths());
    }
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "reason"],
            "properties": {
                "error": { "type": "string", "description": "what to do next" },
                "reason": { "type": "string", "description": "a machine code: unauthorized, unauthenticated, bad_credentials, csrf, session_required, not_a_session, rate_limited, bad_request, forbidden, forbidden_role, not_found, id_taken, wrong_state, concurrent, missing_field, handler_verifies, extension_pending, no_pending_extension, after_photos_required, read_only, internal" },
            },
        }),
    );
    schemas.insert(
        "ExportError".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": { "error": { "type": "string", "description": "what to do next" } },
        }),
    );
    schemas.insert(
        "LoginRequest".into(),
        json!({
            "type": "object",
            "required": ["user", "password"],
            "properties": { "user": string(), "password": string() },
        }),
    );
    schemas.insert(
        "TokenRequest".into(),
        json!({
            "type": "object",
            "required": ["device"],
            "properties": { "device": { "type": "string", "description": "the device's label, as `token list` shows it, e.g. 王伟的手机" } },
        }),
    );
    schemas.insert(
        "Me".into(),
        json!({
            "type": "object",
            "required": ["user", "role", "scope", "grids"],
            "properties": {
                "user": string(),
                "role": enumeration(&role_names()),
                "scope": { "type": "object", "description": "{kind: grids|community|street|district|all, value}" , "properties": { "kind": enumeration(&["grids", "community", "street", "district", "all"]), "value": {} } },
                "grids": { "type": "array", "items": string(), "description": "the grid codes the scope covers" },
                "csrf": { "type": "string", "description": "a session's CSRF token, for X-CSRF-Token (absent for a bearer token)" },
            },
        }),
    );
    schemas.insert(
        "ActionRequest".into(),
        json!({
            "type": "object",
            "required": ["action"],
            "additionalProperties": false,
            "properties": {
                "action": enumeration(&action_names()),
                "note": { "type": "string", "description": "required for invalid, returned, rework" },
                "unit": { "type": "string", "description": "dispatch: the handling unit" },
                "due_at": { "type": "string", "description": "dispatch: the deadline, ISO 8601 or YYYY-MM-DD; by default from the working calendar and the urgency" },
                "rating": { "type": "string", "enum": ["satisfied", "basic", "dissatisfied"] },
                "duplicate_of": { "type": "string", "description": "close: the original ticket's id" },
            },
        }),
    );
    schemas.insert(
        "CommentRequest".into(),
        json!({
            "type": "object",
            "required": ["text"],
            "additionalProperties": false,
            "properties": { "text": string() },
        }),
    );
    schemas.insert(
        "NewTicket".into(),
        json!({
            "type": "object",
            "required": ["grid", "kind", "source", "category", "urgency", "title"],
            "additionalProperties": false,
            "properties": {
                "id": { "type": "string", "description": "a ticket id of the client's, so a retry records it once; new by default. An id already taken is answered only to the ticket's reporter" },
                "grid": string(),
                "kind": enumeration(&["component", "event", "livelihood", "dispute"]),
                "source": enumeration(&["patrol", "resident", "hotline", "assigned"]),
                "category": string(),
                "urgency": enumeration(&["normal", "urgent"]),
                "title": string(),
                "description": string(),
                "location": {
                    "type": "object",
                    "required": ["lat", "lon"],
                    "properties": { "lat": { "type": "number" }, "lon": { "type": "number" }, "accuracy": { "type": "number" }, "address": string() },
                },
            },
        }),
    );
    schemas.insert(
        "Visit".into(),
        json!({
            "type": "object",
            "properties": {
                "id": string(), "visit_type": string(), "grid": string(), "household": nullable("string"),
                "worker": string(), "started_at": time(), "ended_at": time(),
                "lat": { "type": ["number", "null"] }, "lon": { "type": ["number", "null"] },
                "outcome": enumeration(&["met", "not_home", "refused"]),
                "notes": { "type": "string", "description": "left out for reviewers" },
                "tickets": { "type": "array", "items": string() }, "amends": nullable("string"),
            },
        }),
    );
    schemas.insert(
        "Figures".into(),
        json!({
            "type": "object",
            "description": "As the export's JSON: metadata (calendar, period, filter, definitions) and one row object per grid, community, street and handling unit, each ending with the total row. Rates are fractions.",
            "properties": {
                "metadata": { "type": "object" },
                "summary_by_grid": { "type": "array", "items": { "type": "object" } },
                "summary_by_community": { "type": "array", "items": { "type": "object" } },
                "summary_by_street": { "type": "array", "items": { "type": "object" } },
                "summary_by_unit": {
                    "type": "array",
                    "description": "One row per handling unit a ticket of the report is dispatched to now (its urgings and extensions count for it), then 未派遣 for tickets no unit holds, then the total (合计)",
                    "items": {
                        "type": "object",
                        "properties": {
                            "unit": string(), "tickets": { "type": "integer" },
                            "due": { "type": "integer" }, "closed": { "type": "integer" },
                            "closed_on_time": { "type": "integer" }, "overdue_open": { "type": "integer" },
                            "on_time_rate": { "type": ["number", "null"] },
                            "returned": { "type": "integer" }, "handled": { "type": "integer" },
                            "reworked": { "type": "integer" }, "rework_rate": { "type": ["number", "null"] },
                            "handling_count": { "type": "integer" },
                            "mean_handling_hours": { "type": ["number", "null"] },
                            "median_handling_hours": { "type": ["number", "null"] },
                            "extensions_approved": { "type": "integer" }, "urged": { "type": "integer" },
                        },
                    },
                },
            },
        }),
    );
    schemas.insert(
        "Summary".into(),
        json!({
            "type": "object",
            "required": ["id", "grid", "status", "category", "title", "rework_count", "conflicts", "overdue", "created_by", "photos"],
            "properties": {
                "id": string(),
                "grid": string(),
                "status": enumeration(&status_names()),
                "category": string(),
                "title": string(),
                "urgency": { "type": ["string", "null"], "enum": ["normal", "urgent", null] },
                "unit": nullable("string"),
                "due_at": time(),
                "reported_at": time(),
                "updated_at": time(),
                "rework_count": { "type": "integer" },
                "conflicts": { "type": "integer", "description": "unresolved lifecycle conflicts" },
                "overdue": { "type": "boolean" },
                "created_by": string(),
                "photos": { "type": "array", "items": { "type": "string", "pattern": "^[0-9a-f]{64}$" }, "description": "the photos it lists (hex SHA-256, before and after); GET /api/tickets/{id} says what each is" },
            },
        }),
    );
    schemas.insert(
        "Page".into(),
        json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": schema("Summary") },
                "next_cursor": nullable("string"),
            },
        }),
    );
    schemas.insert(
        "Queues".into(),
        json!({
            "type": "object",
            "properties": {
                "to_accept": { "type": "integer", "description": "待立案: reported" },
                "to_dispatch": { "type": "integer", "description": "待派遣: accepted or returned" },
                "to_verify": { "type": "integer", "description": "待核查: handled" },
                "due_soon": { "type": "integer", "description": "即将超期: open, due within 24 hours" },
                "overdue": { "type": "integer", "description": "已超期: open, past the deadline" },
                "conflicts": { "type": "integer", "description": "冲突: with lifecycle conflicts" },
            },
        }),
    );
    schemas.insert(
        "Event".into(),
        json!({
            "type": "object",
            "properties": {
                "id": nullable("string"),
                "action": { "type": ["string", "null"], "enum": action_names().into_iter().map(Value::from).chain([Value::Null]).collect::<Vec<_>>() },
                "from": nullable("string"),
                "actor": nullable("string"),
                "role": nullable("string"),
                "at": time(),
                "note": nullable("string"),
                "unit": nullable("string"),
                "due_at": time(),
                "rating": { "type": ["string", "null"], "enum": ["satisfied", "basic", "dissatisfied", null] },
                "close_reason": { "type": ["object", "null"] },
                "applied": { "type": "boolean", "description": "false: the fold kept it as a conflict" },
                "unreadable": { "type": "string", "description": "why a stored entry could not be read" },
            },
        }),
    );
    schemas.insert(
        "Conflict".into(),
        json!({
            "type": "object",
            "properties": {
                "event_id": nullable("string"),
                "action": nullable("string"),
                "actor": nullable("string"),
                "role": { "type": ["string", "null"], "enum": role_names().into_iter().map(Value::from).chain([Value::Null]).collect::<Vec<_>>() },
                "reason": { "type": "string", "description": "why the event did not apply, as a sentence" },
                "detail": { "type": "object", "description": "the same as data: kind (concurrent, wrong_state, forbidden_role, handler_verifies, missing_field, unreadable) and its fields" },
            },
        }),
    );
    schemas.insert(
        "Photo".into(),
        json!({
            "type": "object",
            "required": ["hash", "phase", "added_by", "at", "uploaded", "url", "thumb_url"],
            "properties": {
                "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "hex SHA-256 of the photo's bytes" },
                "phase": enumeration(&["before", "after"]),
                "added_by": string(),
                "at": time(),
                "uploaded": { "type": "boolean", "description": "whether the relay holds the photo whole (false: the device that took it has not uploaded it yet, and url answers 404)" },
                "url": { "type": "string", "description": "GET /api/blobs/{hash}: the photo" },
                "thumb_url": { "type": "string", "description": "GET /api/blobs/{hash}?size=thumb: at most 320 px a side" },
            },
        }),
    );
    schemas.insert(
        "NextAction".into(),
        json!({
            "type": "object",
            "required": ["action", "needs", "optional"],
            "properties": {
                "action": enumeration(&action_names()),
                "needs": { "type": "array", "items": string(), "description": "fields required: note, unit, rating" },
                "optional": { "type": "array", "items": string(), "description": "fields also taken: note, due_at (dispatch; else from the working calendar), duplicate_of (close)" },
            },
        }),
    );
    schemas.insert(
        "Detail".into(),
        json!({
            "type": "object",
            "required": ["summary", "ticket", "events", "comments", "conflicts", "actions"],
            "properties": {
                "summary": { "oneOf": [schema("Summary"), { "type": "null" }] },
                "ticket": {
                    "type": "object",
                    "description": "every field of the ticket and its folded state",
                    "properties": {
                        "id": string(), "grid": nullable("string"), "status": enumeration(&status_names()),
                        "kind": nullable("string"), "source": nullable("string"), "category": string(),
                        "urgency": nullable("string"), "title": string(), "description": string(),
                        "location": { "type": ["object", "null"], "properties": { "lat": { "type": "number" }, "lon": { "type": "number" }, "accuracy": { "type": ["number", "null"] }, "address": nullable("string") } },
                        "resident": { "type": "object", "description": "left out for reviewers" },
                        "photos": { "type": "array", "items": schema("Photo") },
                        "created_by": string(), "created_at": time(), "unit": nullable("string"), "due_at": time(),
                        "reported_at": time(), "accepted_at": time(), "dispatched_at": time(), "handled_at": time(),
                        "handled_by": nullable("string"), "closed_at": time(), "close_reason": { "type": ["object", "null"] },
                        "rating": nullable("string"), "rework_count": { "type": "integer" }, "returned_count": { "type": "integer" },
                    },
                },
                "events": { "type": "array", "items": schema("Event") },
                "comments": { "type": "array", "items": { "type": "object", "properties": { "id": string(), "author": string(), "at": time(), "text": string() } } },
                "conflicts": { "type": "array", "items": schema("Conflict") },
                "actions": { "type": "array", "items": schema("NextAction"), "description": "what this caller may do next, from the lifecycle table" },
            },
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "GridSync relay records API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tickets, visits and figures, scoped like sync. Authenticate with `Authorization: Bearer <token>`, or the console's session cookie from POST /api/login (then send X-CSRF-Token on every request but GET and HEAD). Times are ISO 8601 at +08:00. Errors are {error, reason} (the export's are {error}).",
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas,
        },
    })
}

/// The photo routes (`crate::blobs::http`): tus 1.0 core with the
/// creation extension, and the photos themselves.
fn blob_paths() -> serde_json::Map<String, Value> {
    let hash = json!({ "name": "hash", "in": "path", "required": true, "description": "the photo's SHA-256, 64 hex digits", "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" } });
    let header = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": schema });
    let tus = header(
        "Tus-Resumable",
        "the tus version",
        json!({ "const": "1.0.0" }),
    );
    let offset_headers = json!({
        "Upload-Offset": { "description": "bytes the relay holds, fsynced", "schema": { "type": "integer" } },
        "Upload-Length": { "description": "bytes the photo has", "schema": { "type": "integer" } },
    });
    let not_found =
        "no such photo, or no ticket listing it that the caller may read (write, for uploads)";
    let all = json!({
        "/api/blobs": {
            "options": {
                "summary": "tus discovery: Tus-Version 1.0.0, Tus-Extension creation, Tus-Max-Size",
                "security": [],
                "responses": { "204": { "description": "the tus capabilities" } },
            },
            "post": {
                "summary": "Start (or find) the upload of a photo a ticket the caller may write lists (tus creation). Upload-Metadata names it: `sha256 <base64 of its hex>`",
                "parameters": [
                    tus,
                    header("Upload-Length", "the photo's bytes", json!({ "type": "integer", "minimum": 0 })),
                    header("Upload-Metadata", "`sha256 <base64 of the 64 hex digits>`", string()),
                ],
                "responses": responses(("201", json!({ "description": "the upload's URL (Location: /api/blobs/{hash}) and the offset to send from (the length when the relay holds the photo already)", "headers": offset_headers })), &[
                    ("400", "no Upload-Length or Upload-Metadata"),
                    ("404", not_found),
                    ("409", "an upload of this photo with another length is under way"),
                    ("412", "no `Tus-Resumable: 1.0.0`"),
                    ("413", "the photo is larger than the relay takes"),
                ]),
            },
        },
        "/api/blobs/{hash}": {
            "head": {
                "summary": "The offset of an upload under way, or the length of a photo held whole (offset = length)",
                "parameters": [hash],
                "responses": responses(("200", json!({ "description": "offset and length", "headers": offset_headers })), &[("404", not_found)]),
            },
            "patch": {
                "summary": "Append the body from Upload-Offset (the uploader only). When the last byte arrives the photo is hashed: kept if it hashes to its name, else dropped (460: send it again from POST)",
                "parameters": [hash, tus, header("Upload-Offset", "where the body starts: the relay's offset", json!({ "type": "integer" }))],
                "requestBody": { "required": true, "content": { "application/offset+octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": responses(("204", json!({ "description": "appended; the new offset", "headers": offset_headers })), &[
                    ("403", "another user's upload"),
                    ("404", not_found),
                    ("409", "not the relay's offset (offset_mismatch, with Upload-Offset), or another request is appending (upload_busy)"),
                    ("412", "no `Tus-Resumable: 1.0.0`"),
                    ("415", "not application/offset+octet-stream"),
                    ("460", "the bytes do not hash to the photo's name (hash_mismatch): dropped, send again"),
                ]),
            },
            "get": {
                "summary": "The photo (for whoever may read a ticket that lists it), or with size=thumb a JPEG of at most 320 px a side, made once",
                "parameters": [hash, query("size", "`thumb` for the thumbnail", enumeration(&["thumb"])), query("token", "a bearer token, for <img> that cannot send a header", string())],
                "responses": responses(("200", json!({ "description": "the image", "content": { "image/jpeg": {}, "image/png": {}, "application/octet-stream": {} } })), &[("404", not_found), ("422", "not an image a thumbnail can be made of")]),
            },
        },
    });
    match all {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is described, and every operation
    /// described is routed (the router is built from `ROUTES`).
    #[test]
    fn the_document_describes_exactly_the_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        let mut described: Vec<(String, String)> = Vec::new();
        for (path, ops) in paths {
            for method in ops.as_object().expect("operations").keys() {
                described.push((method.clone(), path.clone()));
            }
        }
        described.sort();
        let mut routed: Vec<(String, String)> = super::super::ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        routed.sort();
        assert_eq!(described, routed);
        assert_eq!(doc["openapi"], "3.1.0");
        // Every reference resolves.
        let text = doc.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(
                doc["components"]["schemas"].get(&name).is_some(),
                "unresolved $ref {name}"
            );
        }
    }
}
