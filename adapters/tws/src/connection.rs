//! One TCP connection to TWS: connect, greet, negotiate the server version, start the API,
//! and a reader thread that turns the byte stream into decoded messages for the worker.
//!
//! The reader owns the socket's read half; the worker owns the write half (through the
//! pacer). A malformed message is reported and skipped; a frame longer than the protocol
//! allows, or the peer closing, ends the connection with the reason.

use crate::proto::decode::{DecodeError, Incoming};
use crate::proto::encode::{Encoder, MAX_VERSION, MIN_VERSION};
use crate::proto::frame::{fields, greeting, payload_text, FrameReader};
use crate::proto::{self};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::time::Duration;

/// What the reader thread reports to the worker, tagged with its connection's number.
#[derive(Debug)]
pub enum Wire {
    /// A decoded message.
    Message(u64, Incoming),
    /// A message that could not be decoded (skipped).
    Malformed(u64, DecodeError),
    /// The connection ended.
    Closed(u64, String),
}

/// An open, greeted connection.
#[derive(Debug)]
pub struct Connection {
    /// The write half.
    pub stream: TcpStream,
    /// The negotiated server version.
    pub server_version: u32,
    /// TWS's connection time text.
    pub connection_time: String,
    /// This connection's number (messages from older connections are ignored).
    pub number: u64,
}

impl Connection {
    /// The encoder for this connection's version.
    pub fn encoder(&self) -> Encoder {
        Encoder::new(self.server_version)
    }

    /// Writes frames.
    ///
    /// # Errors
    /// When the socket refuses them.
    pub fn write(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(frame)
    }
}

/// Connects, greets and negotiates; then starts the reader thread, which sends every message
/// to `to_worker` as [`Wire`].
///
/// # Errors
/// A text saying why (refused, timed out, no common version, closed during the greeting).
pub fn open<M: From<Wire> + Send + 'static>(
    host: &str,
    port: u16,
    number: u64,
    to_worker: Sender<M>,
) -> Result<Connection, String> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| format!("{host}:{port}: {e}"))?.collect();
    let addr = addrs.first().ok_or_else(|| format!("{host}:{port}: no address"))?;
    let mut stream = TcpStream::connect_timeout(addr, Duration::from_secs(5)).map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream.write_all(&greeting(MIN_VERSION, MAX_VERSION, "")).map_err(|e| format!("greeting {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    // The answer: one frame, serverVersion and connectionTime, no message id.
    let mut reader = FrameReader::new();
    let mut buf = [0u8; 4096];
    let (server_version, connection_time) = loop {
        if let Some(payload) = reader.next_frame().map_err(|e| format!("greeting from {addr}: {e}"))? {
            let text = payload_text(payload);
            let f = fields(&text).map_err(|e| format!("greeting from {addr}: {e}"))?;
            let version: u32 = f.first().and_then(|v| v.parse().ok()).ok_or_else(|| format!("greeting from {addr}: no server version in {f:?}"))?;
            break (version, f.get(1).map_or_else(String::new, |t| (*t).to_owned()));
        }
        let n = stream.read(&mut buf).map_err(|e| format!("waiting for {addr} to answer the greeting: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection during the greeting (is the API enabled in TWS, and this host trusted?)"));
        }
        reader.extend(&buf[..n]);
    };
    if !(MIN_VERSION..=MAX_VERSION).contains(&server_version) {
        return Err(format!("TWS at {addr} answered server version {server_version}; this adapter speaks {MIN_VERSION}..{MAX_VERSION} (TWS too old)"));
    }
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    let read_half = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name(format!("tws-reader-{number}"))
        .spawn(move || {
            // a panic while decoding closes this connection (the worker reconnects), never the adapter
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_loop(read_half, reader, server_version, number, &to_worker)));
            if let Err(p) = run {
                let _ = to_worker.send(M::from(Wire::Closed(number, format!("the reader thread panicked: {}", panic_text(&*p)))));
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Connection { stream, server_version, connection_time, number })
}

pub use txtrader_plugin_api::worker_thread::panic_text;

fn read_loop<M: From<Wire>>(mut stream: TcpStream, mut reader: FrameReader, sv: u32, number: u64, to_worker: &Sender<M>) {
    let mut buf = vec![0u8; 64 * 1024];
    let reason = loop {
        loop {
            match reader.next_frame() {
                Ok(Some(payload)) => {
                    let wire = match proto::decode_payload(sv, payload) {
                        Ok(m) => Wire::Message(number, m),
                        Err(e) => Wire::Malformed(number, e),
                    };
                    if to_worker.send(M::from(wire)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    let _ = to_worker.send(M::from(Wire::Closed(number, format!("protocol error: {e}"))));
                    return;
                }
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => break "TWS closed the connection".to_owned(),
            Ok(n) => reader.extend(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break format!("reading from TWS: {e}"),
        }
    };
    let _ = to_worker.send(M::from(Wire::Closed(number, reason)));
}
