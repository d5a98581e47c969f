//! One connection to the acceptor, plain TCP or TLS: connect with a deadline (and, for TLS,
//! finish the handshake), then a reader thread that cuts the byte stream into whole messages
//! for the worker. The worker writes.
//!
//! With TLS both directions share the session state: the reader waits on the socket without
//! holding it, then takes it briefly to decrypt what arrived; a write takes it to encrypt and
//! send. Neither waits on the other for longer than that.

use crate::proto::frame::{FrameError, FrameReader};
use crate::settings::TlsSettings;
use rustls::ClientConnection;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the reader thread reports, tagged with its connection's number.
#[derive(Debug)]
pub enum Wire {
    /// One whole message's bytes (checksum verified).
    Frame(u64, Vec<u8>),
    /// Bytes skipped.
    Garbled(u64, FrameError),
    /// The connection ended.
    Closed(u64, String),
}

type Tls = Arc<Mutex<ClientConnection>>;

/// An open connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    tls: Option<Tls>,
    /// Its number (reports of older connections are ignored).
    pub number: u64,
}

fn lock(tls: &Tls) -> MutexGuard<'_, ClientConnection> {
    tls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Connection {
    /// Writes one message.
    ///
    /// # Errors
    /// When the socket refuses it.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.tls {
            None => self.stream.write_all(bytes),
            Some(tls) => {
                let mut conn = lock(tls);
                conn.writer().write_all(bytes)?;
                while conn.wants_write() {
                    conn.write_tls(&mut self.stream)?;
                }
                Ok(())
            }
        }
    }

    /// Closes both directions (the reader then reports `Closed`).
    pub fn close(&self) {
        if let Some(tls) = &self.tls {
            let mut conn = lock(tls);
            conn.send_close_notify();
            let mut stream = &self.stream;
            while conn.wants_write() && conn.write_tls(&mut stream).is_ok() {}
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Connects (with TLS when `tls` says so) and starts the reader thread.
///
/// # Errors
/// Why the connection could not be made.
pub fn open<M: From<Wire> + Send + 'static>(host: &str, port: u16, tls: Option<&TlsSettings>, number: u64, to_worker: Sender<M>) -> Result<Connection, String> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| format!("{host}:{port}: {e}"))?.collect();
    let addr = addrs.first().ok_or_else(|| format!("{host}:{port}: no address"))?;
    let mut stream = TcpStream::connect_timeout(addr, Duration::from_secs(5)).map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // a write that cannot go out within this is a dead link, not a reason to block the worker
    stream.set_write_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let tls = match tls {
        None => None,
        Some(settings) => {
            let mut conn = crate::tls::client(settings)?;
            stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
            while conn.is_handshaking() {
                conn.complete_io(&mut stream).map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
            }
            stream.set_read_timeout(None).map_err(|e| e.to_string())?;
            Some(Arc::new(Mutex::new(conn)))
        }
    };
    let read_half = stream.try_clone().map_err(|e| e.to_string())?;
    let shared = tls.clone();
    std::thread::Builder::new()
        .name(format!("fix-reader-{number}"))
        .spawn(move || read_loop(read_half, shared.as_ref(), number, &to_worker))
        .map_err(|e| e.to_string())?;
    Ok(Connection { stream, tls, number })
}

fn read_loop<M: From<Wire>>(mut stream: TcpStream, tls: Option<&Tls>, number: u64, to_worker: &Sender<M>) {
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut plain = Vec::with_capacity(64 * 1024);
    let reason = loop {
        loop {
            let wire = match reader.next_frame() {
                Ok(Some(frame)) => Wire::Frame(number, frame),
                Ok(None) => break,
                Err(e) => Wire::Garbled(number, e),
            };
            if to_worker.send(M::from(wire)).is_err() {
                return;
            }
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => break "the acceptor closed the connection".to_owned(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break format!("reading from the acceptor: {e}"),
        };
        match tls {
            None => reader.extend(&buf[..n]),
            Some(tls) => match decrypt(tls, &buf[..n], &mut plain, &mut stream) {
                Ok(closed) => {
                    reader.extend(&plain);
                    plain.clear();
                    if closed {
                        break "the acceptor closed the TLS session".to_owned();
                    }
                }
                Err(e) => break format!("TLS: {e}"),
            },
        }
    };
    let _ = to_worker.send(M::from(Wire::Closed(number, reason)));
}

/// Feeds what the socket gave to the TLS session and takes out the plaintext; answers whether
/// the peer closed the session.
fn decrypt(tls: &Tls, mut received: &[u8], plain: &mut Vec<u8>, stream: &mut TcpStream) -> Result<bool, String> {
    let mut conn = lock(tls);
    while !received.is_empty() {
        conn.read_tls(&mut received).map_err(|e| e.to_string())?;
        let state = conn.process_new_packets().map_err(|e| e.to_string())?;
        let available = state.plaintext_bytes_to_read();
        if available > 0 {
            let start = plain.len();
            plain.resize(start + available, 0);
            conn.reader().read_exact(&mut plain[start..]).map_err(|e| e.to_string())?;
        }
        if state.peer_has_closed() {
            return Ok(true);
        }
    }
    // what the session must answer (a key update, an alert) goes out under the same lock
    while conn.wants_write() {
        conn.write_tls(stream).map_err(|e| e.to_string())?;
    }
    Ok(false)
}
