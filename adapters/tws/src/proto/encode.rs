//! Requests, encoded as IB's official client encodes them at server versions 176–178.
//!
//! Each function returns one complete frame (length prefix included). Layouts follow the
//! official encoder field for field, with its spellings of unset values (see [`super::text`]),
//! so `tests/golden.rs` compares them byte for byte with frames captured from IB's own client.
//! The one version-dependent layout here is placeOrder (`faProfile` is gone from 177 on).

use super::frame::FrameBuilder;
use super::text::{decimal_repr, float_repr, UNSET_DOUBLE, UNSET_INTEGER};
use rust_decimal::Decimal;
pub use super::{Contract, Order};

/// The server versions this encoder speaks.
pub const MIN_VERSION: u32 = 176;
/// The highest server version this encoder speaks.
pub const MAX_VERSION: u32 = 178;

/// An execution filter for reqExecutions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Client id (0: all).
    pub client_id: i64,
    /// Account.
    pub account: String,
    /// `yyyymmdd hh:mm:ss TZ`: executions after it.
    pub time: String,
    /// Symbol.
    pub symbol: String,
    /// Security type.
    pub sec_type: String,
    /// Exchange.
    pub exchange: String,
    /// `BUY` / `SELL`.
    pub side: String,
}

/// A historical data request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoricalRequest {
    /// Request id.
    pub req_id: i64,
    /// What.
    pub contract: Contract,
    /// End (`yyyymmdd hh:mm:ss TZ`; empty: now).
    pub end: String,
    /// Bar size (`1 min`, `5 mins`, `1 day`).
    pub bar_size: String,
    /// Duration (`1 D`, `2 W`).
    pub duration: String,
    /// Regular trading hours only.
    pub use_rth: bool,
    /// `TRADES`, `MIDPOINT`…
    pub what_to_show: String,
    /// 1: text dates; 2: epoch seconds.
    pub format_date: i64,
    /// Keep updating the last bar (live bars).
    pub keep_up_to_date: bool,
}

/// The encoder for one negotiated server version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoder {
    server_version: u32,
}

impl Encoder {
    /// Encodes for `server_version` (176, 177 or 178).
    pub fn new(server_version: u32) -> Self {
        Self { server_version }
    }

    /// The negotiated version.
    pub fn server_version(self) -> u32 {
        self.server_version
    }

    /// startApi.
    pub fn start_api(self, client_id: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(71);
        f.int(2).int(client_id).empty();
        f.finish()
    }

    /// reqCurrentTime.
    pub fn req_current_time(self) -> Vec<u8> {
        versioned(49, 1)
    }

    /// reqIds (the official client asks for -1).
    pub fn req_ids(self, num_ids: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(8);
        f.int(1).int(num_ids);
        f.finish()
    }

    /// reqManagedAccts.
    pub fn req_managed_accts(self) -> Vec<u8> {
        versioned(17, 1)
    }

    /// reqMarketDataType (1 real-time, 2 frozen, 3 delayed, 4 delayed-frozen).
    pub fn req_market_data_type(self, kind: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(59);
        f.int(1).int(kind);
        f.finish()
    }

    /// reqContractDetails.
    pub fn req_contract_details(self, req_id: i64, contract: &Contract) -> Vec<u8> {
        let mut f = FrameBuilder::new(9);
        f.int(8).int(req_id);
        contract.write(&mut f);
        // includeExpired, secIdType, secId, issuerId
        f.flag(false).empty().empty().empty();
        f.finish()
    }

    /// reqMktData (streaming or a snapshot), with a generic tick list (`233,236`).
    pub fn req_mkt_data(self, req_id: i64, contract: &Contract, generic_ticks: &str, snapshot: bool) -> Vec<u8> {
        let mut f = FrameBuilder::new(1);
        f.int(11).int(req_id);
        contract.write(&mut f);
        // no delta-neutral contract; generic ticks; snapshot; regulatory snapshot; options
        f.flag(false).text(generic_ticks).flag(snapshot).flag(false).empty();
        f.finish()
    }

    /// cancelMktData.
    pub fn cancel_mkt_data(self, req_id: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(2);
        f.int(2).int(req_id);
        f.finish()
    }

    /// placeOrder (also a modification: the same order id with new values).
    pub fn place_order(self, o: &Order) -> Vec<u8> {
        let mut f = FrameBuilder::new(3);
        f.int(o.order_id);
        o.contract.write(&mut f);
        f.empty().empty(); // secIdType, secId
        f.text(&o.action).text(&decimal_repr(o.total_quantity)).text(&o.order_type);
        opt_price(&mut f, o.lmt_price);
        opt_price(&mut f, o.aux_price);
        f.text(&o.tif).empty(); // tif, ocaGroup
        f.text(&o.account).empty(); // account, openClose
        f.int(0).text(&o.order_ref); // origin (customer), orderRef
        f.flag(true).int(0).flag(false).flag(false).int(0).int(0); // transmit, parentId, block, sweep, displaySize, triggerMethod
        f.flag(o.outside_rth).flag(false).empty(); // outsideRth, hidden, sharesAllocation
        f.int(0).empty().empty(); // discretionaryAmt, goodAfterTime, goodTillDate
        f.empty().empty().empty(); // faGroup, faMethod, faPercentage
        if self.server_version < 177 {
            f.empty(); // faProfile
        }
        f.empty().int(0).empty().int(-1); // modelCode, shortSaleSlot, designatedLocation, exemptCode
        f.int(0).empty().empty().flag(false); // ocaType, rule80A, settlingFirm, allOrNone
        f.empty().empty().flag(false).flag(false).empty(); // minQty, percentOffset, eTradeOnly, firmQuoteOnly, nbboPriceCap
        f.int(0).empty().empty().empty().empty().empty(); // auctionStrategy, startingPrice, stockRefPrice, delta, stockRange*
        f.flag(false).empty().empty(); // overridePercentageConstraints, volatility, volatilityType
        f.empty().empty().flag(false).empty(); // deltaNeutralOrderType, deltaNeutralAuxPrice, continuousUpdate, referencePriceType
        f.empty().empty(); // trailStopPrice, trailingPercent
        f.empty().empty().empty().empty().empty().empty(); // scale*, scaleTable, activeStart/StopTime
        f.empty().flag(false).empty().empty().flag(false); // hedgeType, optOutSmartRouting, clearingAccount, clearingIntent, notHeld
        f.flag(false).empty().empty().flag(false).empty(); // deltaNeutralContract, algoStrategy, algoId, whatIf, miscOptions
        f.flag(false).flag(false).flag(false).int(0).empty(); // solicited, randomizeSize, randomizePrice, conditions, adjustedOrderType
        for _ in 0..5 {
            f.text(UNSET_DOUBLE); // triggerPrice, lmtPriceOffset, adjustedStop*, adjustedTrailingAmount
        }
        f.int(0).empty().empty().empty(); // adjustableTrailingUnit, extOperator, softDollarTier name/value
        f.text(UNSET_DOUBLE); // cashQty
        f.empty().empty().empty().empty(); // mifid2*
        f.flag(false).flag(false).flag(false).empty(); // dontUseAutoPriceForHedge, isOmsContainer, discretionaryUpToLimitPrice, usePriceMgmtAlgo
        f.text(UNSET_INTEGER).text(UNSET_INTEGER).flag(false); // duration, postToAts, autoCancelParent
        f.empty().empty(); // advancedErrorOverride, manualOrderTime
        f.finish()
    }

    /// cancelOrder.
    pub fn cancel_order(self, order_id: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(4);
        f.int(1).int(order_id).empty(); // manualOrderCancelTime
        f.finish()
    }

    /// reqGlobalCancel: every open order of the account, not only this client's.
    pub fn req_global_cancel(self) -> Vec<u8> {
        versioned(58, 1)
    }

    /// reqOpenOrders (this client's; client id 0 also sees TWS-entered orders).
    pub fn req_open_orders(self) -> Vec<u8> {
        versioned(5, 1)
    }

    /// reqAllOpenOrders (every client's).
    pub fn req_all_open_orders(self) -> Vec<u8> {
        versioned(16, 1)
    }

    /// reqAutoOpenOrders (client id 0 only).
    pub fn req_auto_open_orders(self, auto_bind: bool) -> Vec<u8> {
        let mut f = FrameBuilder::new(15);
        f.int(1).flag(auto_bind);
        f.finish()
    }

    /// reqCompletedOrders.
    pub fn req_completed_orders(self, api_only: bool) -> Vec<u8> {
        let mut f = FrameBuilder::new(99);
        f.flag(api_only);
        f.finish()
    }

    /// reqPositions.
    pub fn req_positions(self) -> Vec<u8> {
        versioned(61, 1)
    }

    /// cancelPositions.
    pub fn cancel_positions(self) -> Vec<u8> {
        versioned(64, 1)
    }

    /// reqAccountSummary.
    pub fn req_account_summary(self, req_id: i64, group: &str, tags: &str) -> Vec<u8> {
        let mut f = FrameBuilder::new(62);
        f.int(1).int(req_id).text(group).text(tags);
        f.finish()
    }

    /// cancelAccountSummary.
    pub fn cancel_account_summary(self, req_id: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(63);
        f.int(1).int(req_id);
        f.finish()
    }

    /// reqAccountUpdates.
    pub fn req_account_updates(self, subscribe: bool, account: &str) -> Vec<u8> {
        let mut f = FrameBuilder::new(6);
        f.int(2).flag(subscribe).text(account);
        f.finish()
    }

    /// reqAccountUpdatesMulti.
    pub fn req_account_updates_multi(self, req_id: i64, account: &str, model_code: &str, ledger_and_nlv: bool) -> Vec<u8> {
        let mut f = FrameBuilder::new(76);
        f.int(1).int(req_id).text(account).text(model_code).flag(ledger_and_nlv);
        f.finish()
    }

    /// reqExecutions.
    pub fn req_executions(self, req_id: i64, filter: &ExecutionFilter) -> Vec<u8> {
        let mut f = FrameBuilder::new(7);
        f.int(3).int(req_id).int(filter.client_id).text(&filter.account).text(&filter.time);
        f.text(&filter.symbol).text(&filter.sec_type).text(&filter.exchange).text(&filter.side);
        f.finish()
    }

    /// reqHistoricalData (bar size before duration on the wire).
    pub fn req_historical_data(self, r: &HistoricalRequest) -> Vec<u8> {
        let mut f = FrameBuilder::new(20);
        f.int(r.req_id);
        r.contract.write(&mut f);
        f.flag(false).text(&r.end).text(&r.bar_size).text(&r.duration);
        f.flag(r.use_rth).text(&r.what_to_show).int(r.format_date).flag(r.keep_up_to_date).empty();
        f.finish()
    }

    /// reqRealTimeBars (5-second bars; the only size IB offers).
    pub fn req_real_time_bars(self, req_id: i64, contract: &Contract, what_to_show: &str, use_rth: bool) -> Vec<u8> {
        let mut f = FrameBuilder::new(50);
        f.int(3).int(req_id);
        contract.write(&mut f);
        f.int(5).text(what_to_show).flag(use_rth).empty();
        f.finish()
    }

    /// cancelRealTimeBars.
    pub fn cancel_real_time_bars(self, req_id: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(51);
        f.int(1).int(req_id);
        f.finish()
    }

    /// cancelHistoricalData.
    pub fn cancel_historical_data(self, req_id: i64) -> Vec<u8> {
        let mut f = FrameBuilder::new(25);
        f.int(1).int(req_id);
        f.finish()
    }
}

fn versioned(msg_id: u32, version: i64) -> Vec<u8> {
    let mut f = FrameBuilder::new(msg_id);
    f.int(version);
    f.finish()
}

fn opt_price(f: &mut FrameBuilder, price: Option<Decimal>) {
    match price {
        Some(p) => f.text(&float_repr(p)),
        None => f.empty(),
    };
}
