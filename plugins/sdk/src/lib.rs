//! The txtrader strategy SDK: write a trading strategy in a few dozen lines of Rust and build it
//! as a WebAssembly component (`cargo build --release --target wasm32-wasip2`) that txtraderd
//! runs in a sandbox.
//!
//! Implement [`Strategy`] (every handler has a default that does nothing) and export it with
//! [`export_strategy!`]. Handlers get a [`Context`], the strategy's window on the gateway:
//! subscribe to symbols, read the latest quote, place and cancel orders, read positions and
//! balances, set timers, log. Nothing there blocks: an order's outcome arrives later through
//! [`Strategy::on_order`]. Money is exact: prices and quantities are [`Decimal`]s.
//!
//! ```ignore
//! use txtrader_strategy_sdk::{export_strategy, Context, Quote, Strategy};
//!
//! struct Hello;
//!
//! impl Strategy for Hello {
//!     fn start(ctx: &mut Context, _config: &str) -> Result<Self, String> {
//!         ctx.subscribe("IBM")?;
//!         Ok(Hello)
//!     }
//!     fn on_quote(&mut self, ctx: &mut Context, quote: &Quote) {
//!         ctx.info(&format!("IBM bid {:?}", quote.bid));
//!     }
//! }
//!
//! export_strategy!(Hello);
//! ```
//!
//! The contract behind it is the WIT package `txtrader:strategy@0.1.1`
//! (`plugin-api/wit/strategy.wit`); [`bindings`] holds the generated code.

mod context;
mod types;

pub use context::Context;
pub use rust_decimal::Decimal;
pub use types::{
    AccountSummary, Bar, Fill, Interval, Order, OrderRequest, OrderStatus, OrderType, Position, Quote, Side,
    TimeInForce, Trade,
};

/// The generated bindings of the strategy world (for the export macro; strategies use the typed
/// API instead).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../plugin-api/wit",
        world: "strategy",
        pub_export_macro: true,
        default_bindings_module: "txtrader_strategy_sdk::bindings",
    });
}

/// A trading strategy. Only [`Strategy::start`] is required.
///
/// Every handler runs under the manifest's CPU time limit; a panic, a trap or an overrun stops
/// the strategy (and only it).
pub trait Strategy: Sized + 'static {
    /// Creates the strategy. `config` is the manifest's `config` table as JSON text (see
    /// [`parse_config`]). An `Err` refuses to start, with the reason.
    ///
    /// # Errors
    /// Why the strategy cannot start.
    fn start(ctx: &mut Context, config: &str) -> Result<Self, String>;

    /// A new quote of a subscribed symbol.
    fn on_quote(&mut self, _ctx: &mut Context, _quote: &Quote) {}

    /// A trade of a subscribed symbol.
    fn on_trade(&mut self, _ctx: &mut Context, _trade: &Trade) {}

    /// A completed live bar of a subscribed symbol.
    fn on_bar(&mut self, _ctx: &mut Context, _bar: &Bar) {}

    /// The answer to [`Context::request_bars`].
    fn on_bars(&mut self, _ctx: &mut Context, _request: u64, _bars: Result<Vec<Bar>, String>) {}

    /// A change of one of this strategy's orders (acknowledged, working, each fill, cancelled,
    /// rejected...).
    fn on_order(&mut self, _ctx: &mut Context, _order: &Order) {}

    /// A timer set with [`Context::set_timer`] fired.
    fn on_timer(&mut self, _ctx: &mut Context, _id: u64) {}

    /// The strategy is about to be stopped or replaced by a new version.
    fn on_stop(&mut self, _ctx: &mut Context) {}
}

/// Parses the manifest's `config` (JSON text) into a strategy's own settings type.
///
/// # Errors
/// What is wrong with it, as a message for the operator.
pub fn parse_config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T, String> {
    serde_json::from_str(config).map_err(|e| format!("invalid config: {e}"))
}

/// Runtime support for [`export_strategy!`].
#[doc(hidden)]
pub mod runtime {
    use super::{Context, Strategy};
    use std::any::Any;
    use std::cell::RefCell;

    thread_local! {
        static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    /// Creates and keeps the strategy.
    ///
    /// # Errors
    /// The strategy's refusal.
    pub fn start<S: Strategy>(config: &str) -> Result<(), String> {
        let s = S::start(&mut Context::new(), config)?;
        STATE.with(|st| *st.borrow_mut() = Some(Box::new(s)));
        Ok(())
    }

    /// Runs a handler on the started strategy (a no-op before `start` succeeded).
    pub fn with<S: Strategy>(f: impl FnOnce(&mut S, &mut Context)) {
        // Taken out while the handler runs, so a handler can never observe itself re-entered.
        let taken = STATE.with(|st| st.borrow_mut().take());
        if let Some(mut boxed) = taken {
            if let Some(s) = boxed.downcast_mut::<S>() {
                f(s, &mut Context::new());
            }
            STATE.with(|st| *st.borrow_mut() = Some(boxed));
        }
    }

    /// Drops the strategy after `on_stop`.
    pub fn stop<S: Strategy>() {
        with::<S>(|s, ctx| s.on_stop(ctx));
        STATE.with(|st| *st.borrow_mut() = None);
    }
}

/// Exports a [`Strategy`] implementation as the component's `handler`. Use it once, in a
/// `cdylib` crate.
#[macro_export]
macro_rules! export_strategy {
    ($strategy:ty) => {
        struct __TxtraderExport;

        impl $crate::bindings::exports::txtrader::strategy::handler::Guest for __TxtraderExport {
            fn on_start(config: String) -> Result<(), String> {
                $crate::runtime::start::<$strategy>(&config)
            }
            fn on_quote(quote: $crate::bindings::txtrader::strategy::types::Quote) {
                let q = $crate::Quote::from(quote);
                $crate::runtime::with::<$strategy>(|s, ctx| s.on_quote(ctx, &q));
            }
            fn on_trade(trade: $crate::bindings::txtrader::strategy::types::Trade) {
                let t = $crate::Trade::from(trade);
                $crate::runtime::with::<$strategy>(|s, ctx| s.on_trade(ctx, &t));
            }
            fn on_bar(bar: $crate::bindings::txtrader::strategy::types::Bar) {
                let b = $crate::Bar::from(bar);
                $crate::runtime::with::<$strategy>(|s, ctx| s.on_bar(ctx, &b));
            }
            fn on_bars(request: u64, bars: Result<Vec<$crate::bindings::txtrader::strategy::types::Bar>, String>) {
                let bars = bars.map(|v| v.into_iter().map($crate::Bar::from).collect());
                $crate::runtime::with::<$strategy>(|s, ctx| s.on_bars(ctx, request, bars));
            }
            fn on_order(order: $crate::bindings::txtrader::strategy::types::Order) {
                let o = $crate::Order::from(order);
                $crate::runtime::with::<$strategy>(|s, ctx| s.on_order(ctx, &o));
            }
            fn on_timer(id: u64) {
                $crate::runtime::with::<$strategy>(|s, ctx| s.on_timer(ctx, id));
            }
            fn on_stop() {
                $crate::runtime::stop::<$strategy>();
            }
        }

        $crate::bindings::export!(__TxtraderExport with_types_in $crate::bindings);
    };
}
