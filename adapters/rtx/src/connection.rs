//! One TCP connection to RTGW, and a reader thread that turns its lines into decoded messages
//! for the worker.
//!
//! The reader owns the socket's read half; the worker writes commands on the other. Blank lines
//! are skipped (the protocol allows them). A line that does not decode is reported and skipped;
//! a line longer than [`MAX_LINE`] or the peer closing ends the connection with the reason. No
//! line is held without bound: the reader stops reading a line at [`MAX_LINE`] bytes.

use crate::proto::line::{self, Incoming, LineError, MAX_LINE};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::time::Duration;

/// What the reader thread reports to the worker, tagged with its connection's number.
#[derive(Debug)]
pub enum Wire {
    /// A decoded line.
    Message(u64, Incoming),
    /// A line that does not decode (skipped).
    Malformed(u64, LineError),
    /// The connection ended.
    Closed(u64, String),
}

/// An open connection.
#[derive(Debug)]
pub struct Connection {
    /// The write half.
    pub stream: TcpStream,
    /// This connection's number (messages from older connections are ignored).
    pub number: u64,
}

impl Connection {
    /// Writes a command's bytes.
    ///
    /// # Errors
    /// When the socket refuses them (or does not take them within 10 s).
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }
}

/// Connects and starts the reader thread, which sends every line to `to_worker` as [`Wire`].
///
/// # Errors
/// A text saying why (no address, refused, timed out).
pub fn open<M: From<Wire> + Send + 'static>(host: &str, port: u16, number: u64, to_worker: Sender<M>) -> Result<Connection, String> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| format!("{host}:{port}: {e}"))?.collect();
    let addr = addrs.first().ok_or_else(|| format!("{host}:{port}: no address"))?;
    let stream = TcpStream::connect_timeout(addr, Duration::from_secs(5)).map_err(|e| format!("connecting to RTGW at {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let read_half = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("rtx-reader".into())
        .spawn(move || {
            let reason = read_lines(read_half, number, &to_worker);
            let _ = to_worker.send(Wire::Closed(number, reason).into());
        })
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
    Ok(Connection { stream, number })
}

/// Reads lines until the connection ends; returns why it ended.
fn read_lines<M: From<Wire>>(stream: impl Read, number: u64, to_worker: &Sender<M>) -> String {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
        match (&mut reader).take(limit).read_until(b'\n', &mut buf) {
            Ok(0) => return "RTGW closed the connection".into(),
            Ok(_) => {}
            Err(e) => return format!("reading from RTGW: {e}"),
        }
        if buf.last() != Some(&b'\n') {
            if buf.len() > MAX_LINE {
                return format!("RTGW sent a line longer than {MAX_LINE} bytes: {}", line::excerpt(&String::from_utf8_lossy(&buf[..200])));
            }
            // the peer closed in the middle of a line
            return format!("RTGW closed the connection in the middle of a line: {}", line::excerpt(&String::from_utf8_lossy(&buf)));
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let wire = match line::decode(text) {
            Ok(m) => Wire::Message(number, m),
            Err(e) => Wire::Malformed(number, e),
        };
        if to_worker.send(wire.into()).is_err() {
            return "the adapter stopped".into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn read(bytes: &[u8]) -> (Vec<Wire>, String) {
        let (tx, rx) = mpsc::channel::<Wire>();
        let why = read_lines(bytes, 7, &tx);
        drop(tx);
        (rx.iter().collect(), why)
    }

    #[test]
    fn lines_blank_lines_bad_lines_and_the_end() {
        let input = b"{\"type\":\"ack\",\"id\":\"c1\",\"data\":\"REQUEST_OK\"}\r\n\n\nnot json\n{\"type\":\"ack\",\"id\":\"c2\",\"data\":\"POKE_OK\"}\n";
        let (got, why) = read(input);
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[0], Wire::Message(7, Incoming::Ack { cxn, .. }) if cxn == "c1"));
        assert!(matches!(&got[1], Wire::Malformed(7, e) if e.excerpt == "not json"));
        assert!(matches!(&got[2], Wire::Message(7, Incoming::Ack { cxn, .. }) if cxn == "c2"));
        assert_eq!(why, "RTGW closed the connection");
        let (got, why) = read(b"{\"type\":\"ack\"");
        assert!(got.is_empty());
        assert!(why.contains("middle of a line"), "{why}");
    }

    #[test]
    fn a_line_past_the_limit_ends_the_connection_without_holding_it() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.push(b'\n');
        let (got, why) = read(&input);
        assert!(got.is_empty());
        assert!(why.contains("longer than"), "{why}");
    }
}
