//! The supervisor console at `/console`: the static build of `web/console`
//! (`npm run build` writes `web/console/dist`, which is committed), compiled
//! into the binary with `include_dir`.
//!
//! `include_dir` rather than `rust-embed`: it always embeds, in debug
//! builds too (rust-embed reads the folder at run time in debug builds
//! unless a feature is set, so a test binary and the release binary would
//! serve from different places), it has no proc-macro beyond its own
//! `include_dir!`, and it pulls in nothing else. The build is a few hundred
//! kilobytes.
//!
//! Routes: `/console` and every `/console/*` path that is not a file get
//! `index.html` (the console routes in the browser), never cached, so a new
//! relay's console is picked up at the next load. Files under
//! `/console/assets/` have content hashes in their names: they are cached
//! for a year as immutable, and a missing one is a 404 (an HTML answer for
//! a script would only confuse). `/console/config.json` tells the console
//! the relay's settings for it (the map tile layer).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use serde::Serialize;

use crate::config::{MapTiles, TileCrs};
use crate::connection::Shared;

static BUILD: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../web/console/dist");

/// Hashed assets: their names change whenever their bytes do.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `index.html` and `config.json`: always asked for again.
const REVALIDATE: &str = "no-cache";
/// Scripts and styles only from the relay itself; tile images may come
/// from the configured tile server; no framing by other sites.
const CSP: &str = "default-src 'self'; img-src 'self' data: http: https:; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/config.json", get(config))
        .route("/console/{*path}", get(file))
}

async fn index() -> Response {
    serve_index()
}

fn serve_index() -> Response {
    match BUILD.get_file("index.html") {
        Some(f) => respond(f.contents(), "text/html; charset=utf-8", REVALIDATE),
        None => (
            StatusCode::NOT_FOUND,
            "the console was not built into this relay: run `npm ci && npm run build` in web/console, then rebuild",
        )
            .into_response(),
    }
}

async fn file(Path(path): Path<String>) -> Response {
    if let Some(f) = BUILD.get_file(&path) {
        let cache = if path.starts_with("assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        return respond(f.contents(), content_type(&path), cache);
    }
    if path.starts_with("assets/") {
        return (StatusCode::NOT_FOUND, "no such console asset").into_response();
    }
    serve_index()
}

fn respond(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The content type of a file the console build holds, by its extension.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[derive(Serialize)]
struct ConsoleConfig<'a> {
    tiles: Option<Tiles<'a>>,
}

#[derive(Serialize)]
struct Tiles<'a> {
    url: &'a str,
    crs: &'static str,
    attribution: &'a str,
    max_zoom: u8,
}

async fn config(State(shared): State<Arc<Shared>>) -> Response {
    let tiles = shared.config.map_tiles.as_ref().map(|t: &MapTiles| Tiles {
        url: &t.url,
        crs: match t.crs {
            TileCrs::Wgs84 => "wgs84",
            TileCrs::Gcj02 => "gcj02",
        },
        attribution: &t.attribution,
        max_zoom: t.max_zoom,
    });
    let mut response = axum::Json(ConsoleConfig { tiles }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_has_an_index_and_hashed_assets() {
        let index = BUILD.get_file("index.html").expect("index.html is built");
        let html = index.contents_utf8().unwrap();
        assert!(html.contains("/console/assets/"), "{html}");
        assert!(BUILD.get_dir("assets").is_some());
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-abc.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }
}
