//! `gridsync-proxy`: the tests crate's degraded link ([`tests::proxy`]) as
//! a program, to put a poor mobile link between a device and the relay by
//! hand (the README's photo walk-through) or from the browser tests:
//!
//! ```text
//! gridsync-proxy --listen 127.0.0.1:9100 --upstream 127.0.0.1:9000 \
//!     --kbit 50 --rtt-ms 400 --cut-every 20s
//! ```
//!
//! It prints one line when it listens (`gridsync-proxy listening on
//! ADDR ...`), and on SIGINT or SIGTERM what crossed the link, then exits.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use tests::proxy::{Proxy, Shape};

/// A TCP proxy that limits bandwidth, adds latency and cuts connections,
/// for trying GridSync over a poor link (tc netem in user space).
#[derive(Debug, Parser)]
#[command(name = "gridsync-proxy", version)]
struct Args {
    /// Address to listen on (port 0: any free port; the line printed says which)
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The relay's address (host:port) to forward to
    #[arg(long)]
    upstream: SocketAddr,
    /// Bandwidth each way in kbit/s (all connections together) [default: unlimited]
    #[arg(long)]
    kbit: Option<u64>,
    /// Round-trip time added, in milliseconds (half each way)
    #[arg(long, default_value_t = 0)]
    rtt_ms: u64,
    /// Close every connection this long after it opened: `20s`, `500ms`, `2m` [default: never]
    #[arg(long, value_parser = duration)]
    cut_every: Option<Duration>,
}

/// `20s`, `500ms`, `2m`, or a bare number of seconds.
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it as 20s, 500ms or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!(
            "`{text}` has an unknown unit; write it as 20s, 500ms or 2m"
        )),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.kbit == Some(0) {
        bail!("--kbit 0 would carry nothing; leave it out for an unlimited link");
    }
    if args.cut_every == Some(Duration::ZERO) {
        bail!("--cut-every 0 would close every connection at once; leave it out for no cuts");
    }
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}; is the port taken?", args.listen))?;
    let shape = Shape {
        bits_per_sec: args.kbit.map(|k| k * 1000),
        latency: Duration::from_millis(args.rtt_ms / 2),
        cut_after: args.cut_every,
        damage_patch_at: None,
    };
    let proxy = Proxy::start_on(listener, args.upstream, shape);
    println!(
        "gridsync-proxy listening on {} -> {} ({}, RTT {} ms, {})",
        proxy.addr,
        args.upstream,
        args.kbit
            .map_or_else(|| "unlimited".to_owned(), |k| format!("{k} kbit/s")),
        args.rtt_ms,
        args.cut_every.map_or_else(
            || "no cuts".to_owned(),
            |d| format!("cut every {} ms", d.as_millis())
        ),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    println!(
        "gridsync-proxy: {} bytes up, {} bytes down, {} connections, {} cut",
        proxy.bytes_up(),
        proxy.bytes_down(),
        proxy.connections(),
        proxy.cuts()
    );
    Ok(())
}

#[cfg(test)]
mod parsing {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(duration("400ms"), Ok(Duration::from_millis(400)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("15"), Ok(Duration::from_secs(15)));
        assert!(duration("soon").is_err());
        assert!(duration("5h").is_err());
    }
}
