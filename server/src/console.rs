//! The supervisor console at `/console`: the static build of `web/console`
//! (`npm run build` writes `web/console/dist`, which is committed), compiled
//! into the binary with `include_dir` and served by [`crate::web`] (the
//! field app at `/app` is served the same way).
//!
//! `/console/config.json` tells the console the relay's settings for it
//! (the map tile layer).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use serde::Serialize;

use crate::config::{MapTiles, TileCrs};
use crate::connection::Shared;
use crate::web::{REVALIDATE, WebApp};

static BUILD: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../web/console/dist");

/// Scripts and styles only from the relay itself; tile images may come
/// from the configured tile server; no framing by other sites.
const CSP: &str = "default-src 'self'; img-src 'self' data: http: https:; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

static CONSOLE: WebApp = WebApp {
    mount: "/console",
    build: &BUILD,
    csp: CSP,
    what: "console",
    source: "web/console",
};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    CONSOLE.routes().route("/console/config.json", get(config))
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
}
