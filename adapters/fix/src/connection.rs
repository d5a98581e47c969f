//! One TCP connection to the acceptor: connect with a deadline, and a reader thread that cuts
//! the byte stream into whole messages for the worker. The worker owns the write half.

use crate::proto::frame::{FrameError, FrameReader};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
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

/// An open connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Its number (reports of older connections are ignored).
    pub number: u64,
}

impl Connection {
    /// Writes one message.
    ///
    /// # Errors
    /// When the socket refuses it.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Closes both directions (the reader then reports `Closed`).
    pub fn close(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Connects and starts the reader thread.
///
/// # Errors
/// Why the connection could not be made.
pub fn open<M: From<Wire> + Send + 'static>(host: &str, port: u16, number: u64, to_worker: Sender<M>) -> Result<Connection, String> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| format!("{host}:{port}: {e}"))?.collect();
    let addr = addrs.first().ok_or_else(|| format!("{host}:{port}: no address"))?;
    let stream = TcpStream::connect_timeout(addr, Duration::from_secs(5)).map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // a write that cannot go out within this is a dead link, not a reason to block the worker
    stream.set_write_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let read_half = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name(format!("fix-reader-{number}"))
        .spawn(move || read_loop(read_half, number, &to_worker))
        .map_err(|e| e.to_string())?;
    Ok(Connection { stream, number })
}

fn read_loop<M: From<Wire>>(mut stream: TcpStream, number: u64, to_worker: &Sender<M>) {
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
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
        match stream.read(&mut buf) {
            Ok(0) => break "the acceptor closed the connection".to_owned(),
            Ok(n) => reader.extend(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break format!("reading from the acceptor: {e}"),
        }
    };
    let _ = to_worker.send(M::from(Wire::Closed(number, reason)));
}
