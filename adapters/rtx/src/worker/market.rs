//! Market data on the worker: a subscription reads the symbol's whole LIVEQUOTE record,
//! answers it and advises the live fields (those the gateway's flags show); each update is
//! merged into the record kept for the symbol and reported as a quote, a trade and day
//! statistics as it touches them. Also the other data requests: bars from `INTRADAY` /
//! `DAILY`, an account's data from `DEPOSIT`.

use super::{Purpose, Worker};
use crate::mapping;
use crate::proto::command::{Selector, Term};
use crate::proto::line::Row;
use crate::session::cxn::Verb;
use txtrader_plugin_api::adapter::LogLevel;
use txtrader_plugin_api::model::{AccountId, BarInterval, Symbol, UnixNanos};
use txtrader_plugin_api::wire::{AdapterEvent, ErrorCode, MarketSnapshot, ReplyBody, RequestId};

impl Worker {
    /// A symbol's LIVEQUOTE: the whole record (`live` false), or the fields the live advise
    /// streams.
    pub(super) fn quote_selector(&self, symbol: &Symbol, live: bool) -> Selector {
        let filter = vec![Term::Text("DISP_NAME", symbol.to_string())];
        if live { Selector::fields("LIVEQUOTE", mapping::live_fields(self.settings.quote_fields), filter) } else { Selector::all("LIVEQUOTE", filter) }
    }

    pub(super) fn advise_live(&mut self, symbol: &Symbol) {
        let id = self.open("TA_SRV", "LIVEQUOTE", self.quote_selector(symbol, true), Verb::Advise, Purpose::Live(symbol.clone()));
        if let Some(sub) = self.subs.get_mut(symbol) {
            sub.0 = id;
        }
    }

    pub(super) fn bars(&mut self, id: RequestId, symbol: Symbol, interval: BarInterval, start: UnixNanos, end: UnixNanos) {
        let (table, n) = mapping::chart(interval);
        let local = |t: UnixNanos| t.to_datetime().with_timezone(&self.timezone);
        let (from, to) = (local(start), local(end));
        let filter = vec![
            Term::Text("DISP_NAME", symbol.to_string()),
            Term::Number("BARINTERVAL", n),
            Term::Text("STARTDATE", from.format("%Y/%m/%d").to_string()),
            Term::Text("CHART_STARTTIME", from.format("%H:%M").to_string()),
            Term::Text("STOPDATE", to.format("%Y/%m/%d").to_string()),
            Term::Text("CHART_STOPTIME", to.format("%H:%M").to_string()),
        ];
        self.open("TA_SRV", "LIVEQUOTE", Selector::fields(table, mapping::CHART_FIELDS.to_vec(), filter), Verb::Request, Purpose::Bars(id, symbol, interval, start, end));
    }

    pub(super) fn account(&mut self, id: RequestId, account: AccountId) {
        let Some([bank, branch, customer, deposit]) = mapping::account_parts(&account) else {
            self.host.reply(id, ReplyBody::Account { summary: None });
            return;
        };
        let filter = vec![
            Term::Text("BANK", bank.to_owned()),
            Term::Text("BRANCH", branch.to_owned()),
            Term::Text("CUSTOMER", customer.to_owned()),
            Term::Text("DEPOSIT", deposit.to_owned()),
        ];
        self.open("ACCOUNT_GATEWAY", "ORDER", Selector::all("DEPOSIT", filter), Verb::Request, Purpose::Account(id, account));
    }

    pub(super) fn subscribed(&mut self, id: RequestId, symbol: Symbol, rows: Vec<Row>) {
        if let Some(reason) = mapping::symbol_error(&rows) {
            self.host.reply(id, ReplyBody::SymbolInvalid { reason: format!("{symbol}: {reason}") });
            return;
        }
        let record = rows.into_iter().next().unwrap_or_default();
        let answer = mapping::instrument(&record, self.timezone).and_then(|instrument| {
            let (quote, last_trade, stats) = mapping::market(&symbol, &record, self.timezone, UnixNanos::now())?;
            Ok(MarketSnapshot { instrument, quote, last_trade, stats })
        });
        match answer {
            Ok(snapshot) => {
                self.host.reply(id, ReplyBody::Market(snapshot));
                let known = self.subs.contains_key(&symbol);
                self.subs.insert(symbol.clone(), (None, record));
                if !known {
                    self.advise_live(&symbol);
                }
            }
            Err(e) => self.host.fail(id, ErrorCode::Internal, e.to_string()),
        }
    }

    pub(super) fn live_update(&mut self, symbol: &Symbol, update: Row) {
        let Some((_, record)) = self.subs.get_mut(symbol) else { return };
        let touched = |fields: &[&str]| fields.iter().any(|f| update.contains_key(*f));
        let (quote_moved, traded, stats_moved) = (touched(&["BID", "ASK", "BIDSIZE", "ASKSIZE"]), touched(&["TRDPRC_1"]), touched(&["ACVOL_1", "OPEN_PRC", "HIGH_1", "LOW_1", "HST_CLOSE", "VWAP"]));
        for (k, v) in &update {
            record.insert(k.clone(), v.clone());
        }
        match mapping::market(symbol, record, self.timezone, UnixNanos::now()) {
            Ok((quote, trade, stats)) => {
                if let (true, Some(q)) = (quote_moved, quote) {
                    self.emit(AdapterEvent::Quote(q));
                }
                if let (true, Some(s)) = (stats_moved, stats) {
                    self.emit(AdapterEvent::Stats(s));
                }
                if let (true, Some(t)) = (traded, trade) {
                    self.emit(AdapterEvent::Trade(t));
                }
            }
            Err(e) => self.host.log(LogLevel::Warn, &format!("{symbol}: {e}")),
        }
    }

    pub(super) fn unsubscribe(&mut self, id: RequestId, symbol: &Symbol) {
        if let Some((Some(cxn), _)) = self.subs.remove(symbol) {
            // its answers (UNADVISE_OK, OnOtherAck) come on a connection no longer open: ignored
            self.cxns.remove(&cxn);
            let line = crate::proto::command::Command::Unadvise { cxn, selector: self.quote_selector(symbol, true) }.encode();
            if let Ok(line) = line {
                self.write(line.as_bytes());
            }
        }
        self.host.reply(id, ReplyBody::Done);
    }

}
