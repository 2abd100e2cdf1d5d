//! Serving a web app built into the binary: the console at `/console` and
//! the field app at `/app`, each the committed static build of its
//! `web/<name>` folder embedded with `include_dir`.
//!
//! `include_dir` rather than `rust-embed`: it always embeds, in debug
//! builds too (rust-embed reads the folder at run time in debug builds
//! unless a feature is set, so a test binary and the release binary would
//! serve from different places), it has no proc-macro beyond its own
//! `include_dir!`, and it pulls in nothing else.
//!
//! Routes of an app mounted at `/m`: `/m` and every `/m/*` path that is
//! not a file get `index.html` (the app routes in the browser), never
//! cached, so a new relay's app is picked up at the next load; so are the
//! other files at the top of the build (a service worker, a manifest).
//! Files under `/m/assets/` have content hashes in their names: they are
//! cached for a year as immutable, and a missing one is a 404 (an HTML
//! answer for a script would only confuse).

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::Dir;

use crate::connection::Shared;

/// Hashed assets: their names change whenever their bytes do.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `index.html`, the service worker and the like: always asked for again.
pub(crate) const REVALIDATE: &str = "no-cache";

/// One embedded web app.
pub(crate) struct WebApp {
    /// Where it is served, without a trailing slash (`/console`).
    pub mount: &'static str,
    pub build: &'static Dir<'static>,
    /// Its Content-Security-Policy.
    pub csp: &'static str,
    /// What to call it in an error (`console`).
    pub what: &'static str,
    /// Its source folder, for the error when the build is missing.
    pub source: &'static str,
}

impl WebApp {
    pub(crate) fn routes(&'static self) -> Router<Arc<Shared>> {
        let index = get(move || async move { self.index() });
        Router::new()
            .route(self.mount, index.clone())
            .route(&format!("{}/", self.mount), index)
            .route(
                &format!("{}/{{*path}}", self.mount),
                get(move |Path(path): Path<String>| async move { self.file(&path) }),
            )
    }

    fn index(&self) -> Response {
        match self.build.get_file("index.html") {
            Some(f) => self.respond(f.contents(), "text/html; charset=utf-8", REVALIDATE),
            None => (
                StatusCode::NOT_FOUND,
                format!(
                    "the {} was not built into this relay: run `npm ci && npm run build` in {}, then rebuild",
                    self.what, self.source
                ),
            )
                .into_response(),
        }
    }

    fn file(&self, path: &str) -> Response {
        if let Some(f) = self.build.get_file(path) {
            let cache = if path.starts_with("assets/") {
                IMMUTABLE
            } else {
                REVALIDATE
            };
            return self.respond(f.contents(), content_type(path), cache);
        }
        if path.starts_with("assets/") {
            return (
                StatusCode::NOT_FOUND,
                format!("no such {} asset", self.what),
            )
                .into_response();
        }
        self.index()
    }

    fn respond(
        &self,
        body: &'static [u8],
        content_type: &'static str,
        cache: &'static str,
    ) -> Response {
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
            HeaderValue::from_static(self.csp),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        response
    }
}

/// The content type of a file a build holds, by its extension.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(content_type("assets/automerge-x.wasm"), "application/wasm");
        assert_eq!(
            content_type("manifest.webmanifest"),
            "application/manifest+json"
        );
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }
}
