//! The field app at `/app`: the embedded build of `web/app` is served as the
//! console is (one helper), with what an installable offline app needs: a
//! manifest and a service worker never cached by HTTP, the Automerge wasm
//! as `application/wasm` under a CSP that lets it compile, and hashed
//! assets cached for a year. The app syncs with a device token in the
//! WebSocket's `token` query parameter; that the upgrade takes it is
//! tested with the JS client in `tests/tests/interop.rs`.

mod support;

use server::Config;
use support::{TestServer, get_answer as get};

/// The first `/app/assets/...` file `text` names ending in `ext`.
fn asset_in(text: &str, ext: &str) -> String {
    text.split('"')
        .find(|s| s.starts_with("/app/assets/") && s.ends_with(ext))
        .unwrap_or_else(|| panic!("no {ext} asset named in: {text}"))
        .to_owned()
}

#[tokio::test]
async fn the_field_app_is_served_as_an_installable_offline_app() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("relay.redb"), Config::default()).await;

    for path in ["/app", "/app/", "/app/ticket/anything"] {
        let index = get(&server, path).await;
        assert_eq!(index.status, 200, "{path}");
        assert_eq!(index.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(index.header("cache-control"), "no-cache");
        assert!(
            index.body.contains("/app/manifest.webmanifest"),
            "{}",
            index.body
        );
        let csp = index.header("content-security-policy");
        assert!(
            csp.contains("'wasm-unsafe-eval'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-eval'") || csp.contains("wasm-unsafe-eval"),
            "{csp}"
        );
    }

    let manifest = get(&server, "/app/manifest.webmanifest").await;
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.header("content-type"), "application/manifest+json");
    assert_eq!(manifest.header("cache-control"), "no-cache");
    let m: serde_json::Value = serde_json::from_str(&manifest.body).unwrap();
    assert_eq!(m["start_url"], "/app/");
    assert_eq!(m["display"], "standalone");
    for icon in m["icons"].as_array().unwrap() {
        let src = icon["src"].as_str().unwrap();
        assert_eq!(get(&server, src).await.status, 200, "{src}");
    }

    let sw = get(&server, "/app/sw.js").await;
    assert_eq!(sw.status, 200);
    assert_eq!(sw.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(sw.header("cache-control"), "no-cache");
    // Everything the shell needs is precached, and is there.
    let wasm = asset_in(&sw.body, ".wasm");
    let script = asset_in(&sw.body, ".js");
    for path in [&wasm, &script] {
        let a = get(&server, path).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(
            a.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
    }
    assert_eq!(
        get(&server, &wasm).await.header("content-type"),
        "application/wasm"
    );

    let missing = get(&server, "/app/assets/gone-0000.js").await;
    assert_eq!(missing.status, 404);
}
