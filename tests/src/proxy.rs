//! A degraded link in user space (tc netem is not available on these
//! machines): a TCP proxy between a device and the relay that limits
//! bandwidth, adds latency, cuts every connection a fixed time after it
//! opened, and can damage one byte of the first photo upload it carries.
//!
//! Each direction is paced by one shared clock (the link's bandwidth, all
//! connections together) and delayed by `latency` through a queue, so a
//! full pipe still moves at the set rate. Bytes are counted when written
//! to the far side: what crossed the link, not what a client buffered.
//! A cut closes both sockets of a connection at once, as a dropped radio
//! link does to an HTTP request in the middle of its body.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the link does to traffic.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Bits per second each way (`None`: as fast as loopback).
    pub bits_per_sec: Option<u64>,
    /// Added one-way delay (the round trip grows by twice this).
    pub latency: Duration,
    /// Every connection is closed this long after it opened.
    pub cut_after: Option<Duration>,
    /// Flip one byte this many bytes into the body of the first `PATCH`
    /// request that goes up (once, over all connections).
    pub damage_patch_at: Option<usize>,
}

/// Counts of what crossed the link.
#[derive(Debug, Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    damaged: AtomicBool,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`
    /// (`host:port`), shaped by `shape`.
    pub fn start(upstream: &str, shape: Shape) -> Proxy {
        let upstream: SocketAddr = upstream.parse().expect("an upstream host:port");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        Self::start_on(listener, upstream, shape)
    }

    /// Forwards what `listener` accepts to `upstream`, shaped by `shape`
    /// (the `gridsync-proxy` binary binds the address it is given).
    pub fn start_on(listener: std::net::TcpListener, upstream: SocketAddr, shape: Shape) -> Proxy {
        let counters = Arc::new(Counters::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let c = counters.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a proxy runtime");
            runtime.block_on(async move {
                listener
                    .set_nonblocking(true)
                    .expect("a non-blocking listener");
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let link = Link::new(&shape);
                let serve = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        c.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(connection(
                            client,
                            upstream,
                            shape.clone(),
                            link.clone(),
                            c.clone(),
                        ));
                    }
                };
                tokio::select! {
                    () = serve => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection.
        });
        let addr = addr_rx.recv().expect("the proxy listens");
        Proxy {
            addr,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `ws://` address of the relay through this link.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Bytes delivered to the relay.
    pub fn bytes_up(&self) -> u64 {
        self.counters.up.load(Ordering::SeqCst)
    }

    /// Bytes delivered to the device.
    pub fn bytes_down(&self) -> u64 {
        self.counters.down.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Connections the schedule cut.
    pub fn cuts(&self) -> u64 {
        self.counters.cuts.load(Ordering::SeqCst)
    }

    /// Whether the byte of `damage_patch_at` was flipped.
    pub fn damaged(&self) -> bool {
        self.counters.damaged.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The pacing of both directions, shared by all connections.
#[derive(Debug, Clone)]
struct Link {
    up: Arc<Mutex<Instant>>,
    down: Arc<Mutex<Instant>>,
    /// Time one byte takes on the wire.
    per_byte: Option<Duration>,
}

impl Link {
    fn new(shape: &Shape) -> Self {
        Self {
            up: Arc::new(Mutex::new(Instant::now())),
            down: Arc::new(Mutex::new(Instant::now())),
            per_byte: shape
                .bits_per_sec
                .map(|bps| Duration::from_secs_f64(8.0 / bps as f64)),
        }
    }

    /// When `n` bytes sent now in direction `clock` have left the wire.
    fn reserve(&self, clock: &Mutex<Instant>, n: usize) -> Instant {
        let Some(per_byte) = self.per_byte else {
            return Instant::now();
        };
        let mut free = clock.lock().unwrap();
        let start = (*free).max(Instant::now());
        *free = start + per_byte * n as u32;
        *free
    }
}

/// Largest piece read at once: small, so pacing is smooth at low rates.
const PIECE: usize = 512;

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    shape: Shape,
    link: Link,
    counters: Arc<Counters>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return; // the relay is down: the device sees its connection close
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let up = pump(
        client_r,
        server_w,
        shape.clone(),
        link.clone(),
        true,
        counters.clone(),
    );
    let down = pump(
        server_r,
        client_w,
        shape.clone(),
        link,
        false,
        counters.clone(),
    );
    let both = async {
        tokio::join!(up, down);
    };
    match shape.cut_after {
        Some(after) => {
            if tokio::time::timeout(after, both).await.is_err() {
                counters.cuts.fetch_add(1, Ordering::SeqCst);
            }
        }
        None => both.await,
    }
    // Both halves of both sockets are dropped here: closed.
}

/// Finds the first `PATCH` request's body in the upward stream.
#[derive(Debug, Default)]
struct PatchFinder {
    seen: Vec<u8>,
    /// Bytes of the body passed so far, once the head is over.
    body: Option<usize>,
}

impl PatchFinder {
    /// The index in `piece` of the byte `at` bytes into the first PATCH body.
    fn find(&mut self, piece: &[u8], at: usize) -> Option<usize> {
        if self.body.is_none() {
            let before = self.seen.len();
            self.seen.extend_from_slice(piece);
            let start = find(&self.seen, b"PATCH ")?;
            let head_end = find(&self.seen[start..], b"\r\n\r\n")? + start + 4;
            // Body bytes of this piece begin at head_end - before.
            self.body = Some(0);
            let offset_in_piece = head_end.saturating_sub(before);
            let rest = &piece[offset_in_piece.min(piece.len())..];
            return self.advance(rest, at).map(|i| i + offset_in_piece);
        }
        self.advance(piece, at)
    }

    fn advance(&mut self, body: &[u8], at: usize) -> Option<usize> {
        let passed = self.body.as_mut()?;
        let index = (at >= *passed && at < *passed + body.len()).then(|| at - *passed);
        *passed += body.len();
        index
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shape: Shape,
    link: Link,
    upward: bool,
    counters: Arc<Counters>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let latency = shape.latency;
    let writer_counters = counters.clone();
    let writer = async move {
        while let Some((due, piece)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&piece).await.is_err() {
                return;
            }
            let counter = if upward {
                &writer_counters.up
            } else {
                &writer_counters.down
            };
            counter.fetch_add(piece.len() as u64, Ordering::SeqCst);
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut finder = PatchFinder::default();
        let mut buf = vec![0u8; PIECE];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut piece = buf[..n].to_vec();
            if upward
                && let Some(at) = shape.damage_patch_at
                && !counters.damaged.load(Ordering::SeqCst)
                && let Some(i) = finder.find(&piece, at)
            {
                piece[i] ^= 0x20;
                counters.damaged.store(true, Ordering::SeqCst);
            }
            let clock = if upward { &link.up } else { &link.down };
            let left_wire = link.reserve(clock, n);
            // Pacing holds the reader back, as a full link does.
            tokio::time::sleep_until(left_wire).await;
            if tx.send((left_wire + latency, piece)).is_err() {
                return;
            }
        }
    };
    tokio::join!(reader, writer);
}
