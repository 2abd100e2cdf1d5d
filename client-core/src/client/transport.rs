//! The device's WebSocket to the relay: connect, handshake, send, receive.
//!
//! The only module of the client that sees tokio-tungstenite types; it
//! turns binary frames into [`Message`]s and back and decides nothing about
//! sync (that is the session's).

use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::ClientConfig;
use super::error::{ClientError, Lost, ProtocolError};
use crate::protocol::{self, Message};
use crate::sync;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames and bytes a transport moved, handshake excluded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// An open WebSocket to the relay.
#[derive(Debug)]
pub struct Transport {
    socket: Socket,
    traffic: Traffic,
}

impl Transport {
    /// Connects to `cfg.url` and upgrades, sending `cfg.token` as a bearer
    /// token.
    pub async fn connect(cfg: &ClientConfig) -> Result<Self, ClientError> {
        let request = request(cfg)?;
        let connecting =
            tokio_tungstenite::connect_async_with_config(request, Some(ws_config(cfg)), true);
        Self::upgraded(cfg, connecting).await
    }

    /// Upgrades an already connected `tcp` stream (for a caller that picks
    /// the local address).
    pub async fn upgrade(tcp: TcpStream, cfg: &ClientConfig) -> Result<Self, ClientError> {
        let request = request(cfg)?;
        let upgrading = tokio_tungstenite::client_async_with_config(
            request,
            MaybeTlsStream::Plain(tcp),
            Some(ws_config(cfg)),
        );
        Self::upgraded(cfg, upgrading).await
    }

    async fn upgraded<R>(
        cfg: &ClientConfig,
        upgrading: impl Future<Output = Result<(Socket, R), tungstenite::Error>>,
    ) -> Result<Self, ClientError> {
        match tokio::time::timeout(cfg.connect_timeout, upgrading).await {
            Err(_) => Err(ClientError::ConnectTimeout(cfg.url.clone())),
            Ok(Ok((socket, _))) => Ok(Self {
                socket,
                traffic: Traffic::default(),
            }),
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let status = resp.status().as_u16();
                let hint = match status {
                    401 => ": the token is missing, unknown or revoked; run `gridsync login` again",
                    403 => ": this account may not sync here",
                    503 => ": the relay is full; it will be retried",
                    _ => "",
                };
                Err(ClientError::Refused {
                    url: cfg.url.clone(),
                    status,
                    hint,
                })
            }
            Ok(Err(e)) => Err(ClientError::Connect {
                url: cfg.url.clone(),
                source: Box::new(e),
            }),
        }
    }

    /// Sends `join` and returns the relay's first message, whatever it is
    /// (the session judges it); gives up after `timeout`.
    pub async fn handshake(
        &mut self,
        join: &Message,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        self.socket
            .send(WsMessage::Binary(protocol::encode(join).into()))
            .await
            .map_err(socket_lost)?;
        let answer = async {
            loop {
                match self.socket.next().await {
                    None => return Err(Lost::Ended { handshake: true }.into()),
                    Some(Err(e)) => return Err(socket_lost(e)),
                    Some(Ok(WsMessage::Binary(bytes))) => {
                        return protocol::decode(&bytes)
                            .map_err(|e| ProtocolError::Undecodable(e).into());
                    }
                    Some(Ok(WsMessage::Close(frame))) => return Err(closed(frame, true)),
                    Some(Ok(_)) => {}
                }
            }
        };
        tokio::time::timeout(timeout, answer)
            .await
            .map_err(|_| ProtocolError::NoAnswer)?
    }

    /// Sends `frames` in order, then flushes.
    pub async fn send(&mut self, frames: Vec<Message>) -> Result<(), ClientError> {
        for msg in frames {
            tracing::trace!(kind = msg.type_name(), "frame to the relay");
            let bytes = protocol::encode(&msg);
            self.traffic.frames_out += 1;
            self.traffic.bytes_out += bytes.len() as u64;
            self.socket
                .feed(WsMessage::Binary(bytes.into()))
                .await
                .map_err(socket_lost)?;
        }
        self.socket.flush().await.map_err(socket_lost)
    }

    /// Waits for the next data frame, then takes whatever else has already
    /// arrived, up to `max` frames. Pings and pongs are answered by the
    /// socket and not returned. Cancel-safe: it awaits only while it holds
    /// nothing.
    pub async fn receive(&mut self, max: usize) -> Result<Vec<Message>, ClientError> {
        let mut frames = Vec::new();
        let mut next = self.socket.next().await;
        loop {
            match next {
                None => return Err(Lost::Ended { handshake: false }.into()),
                Some(Err(e)) => return Err(socket_lost(e)),
                Some(Ok(WsMessage::Binary(bytes))) => {
                    self.traffic.frames_in += 1;
                    self.traffic.bytes_in += bytes.len() as u64;
                    let msg = protocol::decode_with_extensions(&bytes, sync::EXTENSION_MESSAGES)
                        .map_err(ProtocolError::Undecodable)?;
                    frames.push(msg);
                }
                Some(Ok(WsMessage::Close(frame))) => return Err(closed(frame, false)),
                Some(Ok(_)) => {}
            }
            if frames.len() >= max.max(1) {
                return Ok(frames);
            }
            next = match self.socket.next().now_or_never() {
                Some(n) => n,
                None if frames.is_empty() => self.socket.next().await,
                None => return Ok(frames),
            };
        }
    }

    /// What this transport has moved so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Closes the WebSocket (best effort: the connection may be gone).
    pub async fn close(&mut self) {
        let _ = self.socket.close(None).await;
    }
}

fn request(cfg: &ClientConfig) -> Result<Request, ClientError> {
    let mut request = cfg
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Connect {
            url: cfg.url.clone(),
            source: Box::new(e),
        })?;
    if let Some(token) = &cfg.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(ClientError::BadToken)?;
        request.headers_mut().insert("authorization", value);
    }
    Ok(request)
}

fn ws_config(cfg: &ClientConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(cfg.max_frame_bytes))
        .max_frame_size(Some(cfg.max_frame_bytes))
}

fn socket_lost(e: tungstenite::Error) -> ClientError {
    Lost::Socket(Box::new(e)).into()
}

fn closed(frame: Option<tungstenite::protocol::CloseFrame>, handshake: bool) -> ClientError {
    let (code, reason) = frame.map_or((1005, String::new()), |f| {
        (u16::from(f.code), f.reason.to_string())
    });
    Lost::Closed {
        code,
        reason,
        handshake,
    }
    .into()
}
