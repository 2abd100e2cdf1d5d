//! The console at `/console`: the embedded build of `web/console` is served
//! with the right content types, an SPA fallback for the console's own
//! paths, year-long caching for hashed assets only, and the relay's map
//! settings at `/console/config.json`.

mod support;

use server::{Config, MapTiles, TileCrs};
use support::{TestServer, get_answer as get};

/// The first `/console/assets/...` file `index.html` links to.
fn asset_in(html: &str, ext: &str) -> String {
    html.split('"')
        .find(|s| s.starts_with("/console/assets/") && s.ends_with(ext))
        .unwrap_or_else(|| panic!("index.html links no {ext} asset: {html}"))
        .to_owned()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("relay.redb"), Config::default()).await;

    for path in ["/console", "/console/"] {
        let index = get(&server, path).await;
        assert_eq!(index.status, 200, "{path}");
        assert_eq!(index.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(index.header("cache-control"), "no-cache");
        assert!(index.body.contains(r#"<div id="app">"#), "{}", index.body);
        assert!(
            index
                .header("content-security-policy")
                .contains("frame-ancestors 'none'")
        );
    }

    // The console's own paths (a pasted link, a reload) get index.html.
    let index = get(&server, "/console").await;
    for path in [
        "/console/tickets",
        "/console/tickets/3xYz?x=1",
        "/console/admin/users",
    ] {
        let page = get(&server, path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.body, index.body, "{path}");
        assert_eq!(page.header("cache-control"), "no-cache");
    }

    let script = asset_in(&index.body, ".js");
    let js = get(&server, &script).await;
    assert_eq!(js.status, 200, "{script}");
    assert_eq!(js.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(
        js.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(js.header("x-content-type-options"), "nosniff");
    assert!(js.body.len() > 1000);

    let style = asset_in(&index.body, ".css");
    let css = get(&server, &style).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");

    // A missing asset is a 404, not index.html served as a script.
    let missing = get(&server, "/console/assets/index-00000000.js").await;
    assert_eq!(missing.status, 404);

    // Nothing outside /console answers with the console.
    assert_eq!(get(&server, "/consolex").await.status, 404);

    let config = get(&server, "/console/config.json").await;
    assert_eq!(config.status, 200);
    assert_eq!(config.header("content-type"), "application/json");
    let config: serde_json::Value = serde_json::from_str(&config.body).unwrap();
    assert_eq!(config, serde_json::json!({ "tiles": null }));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_configured_tile_layer_reaches_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        map_tiles: Some(MapTiles {
            url: "https://tiles.example/{z}/{x}/{y}.png".into(),
            crs: TileCrs::Gcj02,
            attribution: "© 示例地图".into(),
            max_zoom: 18,
        }),
        ..Config::default()
    };
    let server = TestServer::start(&dir.path().join("relay.redb"), config).await;
    let answer = get(&server, "/console/config.json").await;
    let config: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        config,
        serde_json::json!({ "tiles": {
            "url": "https://tiles.example/{z}/{x}/{y}.png",
            "crs": "gcj02",
            "attribution": "© 示例地图",
            "max_zoom": 18,
        }})
    );
    server.stop().await.unwrap();
}

#[test]
fn a_tile_url_without_placeholders_is_refused() {
    let config = Config {
        map_tiles: Some(MapTiles {
            url: "https://tiles.example/map.png".into(),
            crs: TileCrs::Wgs84,
            attribution: String::new(),
            max_zoom: 18,
        }),
        ..Config::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("{z}, {x} and {y}"), "{err}");
}
