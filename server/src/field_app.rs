//! The field app at `/app`: the static build of `web/app` (`npm run build`
//! writes `web/app/dist`, which is committed), served by [`crate::web`] as
//! the console is. It is an installable PWA: `sw.js` (the service worker
//! that precaches the shell) and `manifest.webmanifest` sit at the top of
//! the build and are never cached by HTTP, so a new relay's app replaces
//! the old one at the next online load.
//!
//! The app syncs over the relay's WebSocket with its own device token as
//! the `token` query parameter (a browser cannot set headers on a
//! WebSocket; `auth::admit` takes the query's token), so its CSP allows
//! `connect-src 'self'` (which covers `ws:`/`wss:` to the same host) and
//! `'wasm-unsafe-eval'` for Automerge's WebAssembly.

use std::sync::Arc;

use axum::Router;
use include_dir::{Dir, include_dir};

use crate::connection::Shared;
use crate::web::WebApp;

static BUILD: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../web/app/dist");

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data: blob:; \
                   style-src 'self' 'unsafe-inline'; connect-src 'self'; worker-src 'self'; \
                   manifest-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

static APP: WebApp = WebApp {
    mount: "/app",
    build: &BUILD,
    csp: CSP,
    what: "field app",
    source: "web/app",
};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    APP.routes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_has_a_shell_a_worker_and_a_manifest() {
        let html = BUILD.get_file("index.html").expect("index.html is built");
        let html = html.contents_utf8().unwrap();
        assert!(html.contains("/app/assets/"), "{html}");
        assert!(html.contains("manifest.webmanifest"), "{html}");
        let sw = BUILD.get_file("sw.js").expect("sw.js is built");
        let sw = sw.contents_utf8().unwrap();
        assert!(
            sw.contains(".wasm"),
            "the worker precaches the automerge wasm"
        );
        assert!(BUILD.get_file("manifest.webmanifest").is_some());
    }
}
