//! One stream connection: greeting, `auth`, commands, and the pushes its options ask for.
//!
//! A session is one task owning its socket. Inbound frames are handled first (so a `resume`
//! sent right after `auth` is answered before any live push); pushes come from the hub through
//! a bounded queue. When the client does not read, the queue fills and the hub counts what this
//! session missed: the session then writes an exact gap notice (or disconnects, by
//! configuration) — the gateway and the other sessions never wait for it. A write that stays
//! blocked longer than the write timeout ends the session.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::codec::NetstringCodec;
use super::hub::{Hub, Push};
use super::{SlowClient, StreamSettings};
use crate::compat::commands::Ctx;
use crate::compat::stream::{self as wire, Needs, CHANNEL};
use crate::gateway::bus::{Delivery, Subscription};
use crate::gateway::market::Subscriber;
use crate::access::{Access, Principal};
use crate::compat::commands;
use crate::shutdown::ExitReason;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};
use txtrader_plugin_api::model::ConnectionStatus;

/// What a session shares with the listener.
#[derive(Clone, Debug)]
pub struct SessionEnv {
    /// Command context (its subscriber and client are set per session).
    pub ctx: Ctx,
    /// The hub.
    pub hub: Hub,
    /// Who may sign in, and their rates.
    pub access: Access,
    /// Stream settings.
    pub settings: Arc<StreamSettings>,
    /// The greeting line.
    pub greeting: Arc<str>,
}

/// A connection's byte stream: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What a session reads and writes.
pub type Conn = Box<dyn Io>;

enum Flow {
    Continue,
    Close,
}

struct Session {
    id: u64,
    peer: SocketAddr,
    env: SessionEnv,
    ctx: Ctx,
    writer: FramedWrite<WriteHalf<Conn>, NetstringCodec>,
    /// Who signed in (`None` until `auth`).
    principal: Option<Arc<Principal>>,
    /// The subject CN of the connection's verified client certificate, if any.
    certificate: Option<String>,
    options: Map<String, Value>,
    subscription: Option<Subscription<Arc<Push>>>,
    live_after: u64,
    /// Its place among the connections waiting to authenticate, then among the sessions.
    ticket: super::Ticket,
}

/// Serves one connection until it closes.
pub async fn run(stream: Conn, peer: SocketAddr, id: u64, env: SessionEnv, ticket: super::Ticket, certificate: Option<String>) {
    let (r, w) = tokio::io::split(stream);
    let max = env.settings.max_frame;
    let mut reader = FramedRead::new(r, NetstringCodec::new(max));
    let mut ctx = env.ctx.clone();
    ctx.client = peer.to_string();
    ctx.subscriber = Subscriber::Session(id);
    let mut s = Session {
        id,
        peer,
        ctx,
        writer: FramedWrite::new(w, NetstringCodec::new(usize::MAX)),
        env,
        principal: None,
        certificate,
        options: Map::new(),
        subscription: None,
        live_after: 0,
        ticket,
    };
    let log_cxn = s.env.settings.log_connections;
    if log_cxn {
        tracing::info!(session = id, %peer, "stream client connected");
    } else {
        tracing::debug!(session = id, %peer, "stream client connected");
    }
    let greeting = s.env.greeting.clone();
    if s.write(&[greeting.to_string()]).await {
        s.serve(&mut reader).await;
    }
    s.ctx.gateway.remove_subscriber(Subscriber::Session(id)).await;
    if log_cxn {
        tracing::info!(session = id, %peer, "stream client disconnected");
    } else {
        tracing::debug!(session = id, %peer, "stream client disconnected");
    }
}

async fn next_delivery(sub: &mut Option<Subscription<Arc<Push>>>) -> Option<Delivery<Arc<Push>>> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    async fn serve(&mut self, reader: &mut FramedRead<ReadHalf<Conn>, NetstringCodec>) {
        let shutdown = self.ctx.shutdown.clone();
        let stop = shutdown.wait();
        tokio::pin!(stop);
        let auth_deadline = tokio::time::sleep(self.env.settings.auth_timeout);
        tokio::pin!(auth_deadline);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    self.finish().await;
                    break;
                }
                () = &mut auth_deadline, if self.principal.is_none() => {
                    tracing::warn!(session = self.id, peer = %self.peer, timeout_s = self.env.settings.auth_timeout.as_secs(), "stream client did not authenticate in time; closing");
                    self.write(&[".error: authentication timeout".to_owned()]).await;
                    break;
                }
                frame = reader.next() => match frame {
                    None => break,
                    Some(Err(e)) => {
                        tracing::warn!(session = self.id, peer = %self.peer, cause = %e, "bad frame from stream client; closing");
                        self.write(&[format!(".error: {e}")]).await;
                        break;
                    }
                    Some(Ok(line)) => {
                        if matches!(self.on_line(&line).await, Flow::Close) {
                            break;
                        }
                    }
                },
                delivery = next_delivery(&mut self.subscription) => match delivery {
                    Some(d) => {
                        if !self.on_delivery(d).await {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
    }

    /// The gateway is stopping: take no more commands, but deliver what is still on its way (the
    /// final status change and, for a forced shutdown, its reason), for at most two seconds.
    async fn finish(&mut self) {
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(std::time::Duration::from_secs(2)).unwrap_or(now);
        while let Some(sub) = self.subscription.as_mut() {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(Some(d)) => {
                    if !self.on_delivery(d).await {
                        return;
                    }
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Writes lines and flushes; false when the client is gone or stuck past the write timeout.
    async fn write(&mut self, lines: &[String]) -> bool {
        let timeout = self.env.settings.write_timeout;
        let log = self.env.settings.log_client_messages;
        let work = async {
            for l in lines {
                if log {
                    tracing::info!(session = self.id, "--> {l}");
                }
                self.writer.feed(l.as_str()).await?;
            }
            self.writer.flush().await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::debug!(session = self.id, cause = %e, "stream write failed");
                false
            }
            Err(_) => {
                tracing::warn!(session = self.id, peer = %self.peer, "stream client not reading for {timeout:?}; disconnecting");
                false
            }
        }
    }

    fn push_lines(&self, push: &Push, out: &mut Vec<String>, force_seq: bool) {
        let seq = force_seq || wire::option_on(&self.options, "sequence");
        for l in &push.lines {
            if l.option.is_none_or(|o| wire::option_on(&self.options, o)) {
                out.push(if seq { format!("@{} {}", push.seq, l.text()) } else { l.text().to_owned() });
            }
        }
    }

    async fn on_delivery(&mut self, first: Delivery<Arc<Push>>) -> bool {
        // Write everything already queued in one flush.
        let mut lines = Vec::new();
        let keep = self.drain(Some(first), &mut lines).is_some();
        (lines.is_empty() || self.write(&lines).await) && keep
    }

    /// Most deliveries turned into lines at once, so one flush stays bounded.
    const BATCH: usize = 256;

    /// Turns queued deliveries (starting with `first`, if any; at most [`Self::BATCH`]) into
    /// lines and answers how many it took; `None` when the session must end (it fell behind and
    /// the policy is to disconnect).
    fn drain(&mut self, first: Option<Delivery<Arc<Push>>>, lines: &mut Vec<String>) -> Option<usize> {
        let mut next = first.or_else(|| self.subscription.as_mut().and_then(Subscription::try_recv));
        let mut taken: usize = 0;
        while let Some(d) = next.take() {
            match d {
                Delivery::Item(push) => self.push_lines(&push, lines, false),
                Delivery::Gap { first, last, missed } => {
                    tracing::warn!(session = self.id, peer = %self.peer, missed, first, last, "stream client fell behind");
                    if self.env.settings.slow_client == SlowClient::Disconnect {
                        lines.push(format!(".error: disconnected: fell behind by {missed} events (seq {first}-{last})"));
                        return None;
                    }
                    lines.push(format!("{CHANNEL}.error: STREAM gap: {missed} events missed (seq {first}-{last})"));
                }
            }
            taken = taken.saturating_add(1);
            if taken < Self::BATCH {
                next = self.subscription.as_mut().and_then(Subscription::try_recv);
            }
        }
        Some(taken)
    }

    /// Answers a command after the pushes it caused: every event published before the answer
    /// was ready is written first.
    async fn reply_after_pushes(&mut self, reply: Vec<String>) -> Flow {
        let mut lines = Vec::new();
        if self.subscription.is_some() {
            self.env.hub.barrier(self.ctx.gateway.published_seq()).await;
            loop {
                match self.drain(None, &mut lines) {
                    None => {
                        self.write(&lines).await;
                        return Flow::Close;
                    }
                    Some(n) if n < Self::BATCH => break,
                    Some(_) => {}
                }
            }
        }
        lines.extend(reply);
        self.reply(lines).await
    }

    async fn reply(&mut self, lines: Vec<String>) -> Flow {
        if self.write(&lines).await { Flow::Continue } else { Flow::Close }
    }

    async fn refuse(&mut self, line: &str) -> Flow {
        self.write(&[line.to_owned()]).await;
        Flow::Close
    }

    async fn on_line(&mut self, line: &str) -> Flow {
        let line = line.trim();
        if line.is_empty() {
            return Flow::Continue;
        }
        if self.env.settings.log_client_messages {
            tracing::info!(session = self.id, "<-- {}", if line.starts_with("auth ") { "auth ********" } else { line });
        }
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let Some(command) = wire::lookup(cmd) else { return self.reply(vec![".what?".into()]).await };
        if command.needs != Needs::Nothing && self.principal.is_none() {
            return self.refuse(".Authorization required!").await;
        }
        if command.needs == Needs::AuthAndInit && self.ctx.gateway.status() != ConnectionStatus::Up {
            return self.refuse(".Initialization not complete!").await;
        }
        if let (Some(principal), Some(spec)) = (&self.principal, command.runs.and_then(commands::find)) {
            if let Err(forbidden) = principal.may(cmd, spec.class) {
                tracing::warn!(session = self.id, peer = %self.peer, command = cmd, "{forbidden}");
                return self.reply(vec![format!(".error: forbidden: {forbidden}")]).await;
            }
            if let Err(limited) = self.env.access.limiter.take(principal) {
                tracing::warn!(session = self.id, peer = %self.peer, user = %principal.name, command = cmd, "{limited}");
                return self.reply(vec![format!(".error: {limited}")]).await;
            }
        }
        match cmd {
            "auth" => self.auth(line).await,
            "help" => self.reply(vec![wire::help_line()]).await,
            "quit" | "exit" | "bye" => Flow::Close,
            "status" => {
                let status = self.ctx.gateway.status();
                self.reply(vec![format!(".status: {status}")]).await
            }
            "shutdown" => {
                let message = format!("shutdown requested by {} [{}]", self.peer, args.join(" "));
                let user = self.principal.as_ref().map(|p| p.name.as_str()).unwrap_or_default();
                tracing::warn!(user, "ALERT: {message}");
                self.ctx.shutdown.trigger(ExitReason::Requested(message));
                Flow::Close
            }
            "resume" => self.resume(&args).await,
            _ => {
                let fields: Option<Vec<String>> = self.options.get("SYMBOL_FIELDS").and_then(Value::as_array).map(|a| {
                    a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect()
                });
                match wire::data_command(&self.ctx, cmd, &args, fields.as_deref()).await {
                    Ok(lines) => self.reply_after_pushes(lines).await,
                    Err(message) => {
                        tracing::warn!(session = self.id, command = cmd, "{message}");
                        self.ctx.gateway.alert("STREAM", format!("{cmd}: {message}")).await;
                        let flow = self.reply(vec![format!(".error: {message}")]).await;
                        if self.ctx.compat.flags.exception_halt {
                            let reason = format!("{message} raised in {cmd} with TXTRADER_ENABLE_EXCEPTION_HALT set");
                            self.ctx.gateway.force_shutdown(reason).await;
                        }
                        flow
                    }
                }
            }
        }
    }

    async fn auth(&mut self, line: &str) -> Flow {
        let auth = match wire::parse_auth(line) {
            Ok(a) => a,
            Err(e) => return self.reply(vec![format!(".error: {e}")]).await,
        };
        // A verified client certificate that names a user is that user's credential: `auth`
        // naming the same user needs no password. Any other `auth` is checked as usual.
        let by_certificate = self
            .certificate
            .as_deref()
            .and_then(|cn| self.env.access.authenticator.certificate(cn))
            .filter(|p| p.name == auth.user);
        let principal = match by_certificate {
            Some(p) => Some(p),
            None => self.env.access.authenticator.password(auth.user.as_bytes(), auth.password.as_bytes()).await,
        };
        let Some(principal) = principal else {
            tracing::warn!(session = self.id, peer = %self.peer, "stream auth refused: bad credentials");
            return self.refuse(".Authorization required!").await;
        };
        if self.principal.as_ref().is_some_and(|p| p.name != principal.name) {
            tracing::warn!(session = self.id, peer = %self.peer, "stream auth refused: the session is signed in as another user");
            return self.reply(vec![".error: already signed in as another user".into()]).await;
        }
        if !self.ticket.authenticate(self.env.settings.max_sessions) {
            tracing::warn!(session = self.id, peer = %self.peer, max = self.env.settings.max_sessions, "stream session refused: too many sessions");
            return self.refuse(".error: too many connections").await;
        }
        self.options = auth.options;
        self.ctx.principal = principal.clone();
        self.principal = Some(principal);
        let mut lines = vec![format!(".Authorized {CHANNEL}")];
        if self.subscription.is_none() {
            // A client may ask for a shorter queue than the server's (never a longer one).
            let max = self.env.settings.queue;
            let queue = self.options.get("queue").and_then(Value::as_u64).map_or(max, |q| usize::try_from(q).unwrap_or(max).clamp(2, max));
            let Some(joined) = self.env.hub.join(queue).await else { return Flow::Close };
            self.subscription = Some(joined.subscription);
            self.live_after = joined.live_after;
            // Monitors wait for CH.time: give the current minute at once.
            lines.extend(joined.time_line);
        }
        self.reply(lines).await
    }

    async fn resume(&mut self, args: &[&str]) -> Flow {
        let Some(after) = args.first().and_then(|a| a.parse::<u64>().ok()) else {
            return self.reply(vec![".error: resume needs the last sequence number received".into()]).await;
        };
        match self.env.hub.replay(after, self.live_after).await {
            None => Flow::Close,
            Some(Err(gone)) => {
                self.reply(vec![format!(
                    ".error: resume {after}: events {}..{} are no longer kept; query the current state instead",
                    after.saturating_add(1),
                    gone.evicted_through
                )])
                .await
            }
            Some(Ok(pushes)) => {
                let mut lines = Vec::new();
                for p in &pushes {
                    self.push_lines(p, &mut lines, true);
                }
                lines.push(format!(".resumed: {} events from {after} through {}", pushes.len(), self.live_after));
                self.reply(lines).await
            }
        }
    }
}
