//! The TWS socket API's text protocol (server versions 176–178): framing, field spellings,
//! request encoding and response decoding. Pure functions over bytes: no socket, no state.

pub mod decode;
pub mod encode;
pub mod frame;
pub mod text;

use rust_decimal::Decimal;

/// An order: what placeOrder carries (the attributes the gateway uses; everything else is sent
/// as the official client sends its defaults) and what openOrder reports of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// The client-side order id.
    pub order_id: i64,
    /// What is traded.
    pub contract: Contract,
    /// `BUY` or `SELL`.
    pub action: String,
    /// Quantity.
    pub total_quantity: Decimal,
    /// `MKT`, `LMT`, `STP`, `STP LMT`.
    pub order_type: String,
    /// Limit price.
    pub lmt_price: Option<Decimal>,
    /// Stop price (`auxPrice`).
    pub aux_price: Option<Decimal>,
    /// Time in force (`DAY`, `GTC`, `IOC`…); empty: TWS's default.
    pub tif: String,
    /// Account (empty: the only one).
    pub account: String,
    /// Free text carried with the order (the gateway puts its own order id here).
    pub order_ref: String,
    /// May fill outside regular trading hours.
    pub outside_rth: bool,
}

/// A contract, as requests carry it and responses describe it (a field a message does not
/// carry is empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contract {
    /// IB's contract id (0: not resolved; symbol and the rest identify it).
    pub con_id: i64,
    /// Symbol.
    pub symbol: String,
    /// Security type (`STK`).
    pub sec_type: String,
    /// Routing exchange (`SMART`).
    pub exchange: String,
    /// Primary listing exchange.
    pub primary_exchange: String,
    /// Currency.
    pub currency: String,
    /// Local symbol.
    pub local_symbol: String,
}

impl Contract {
    /// A stock routed through SMART.
    pub fn stock(symbol: &str, primary_exchange: &str, currency: &str) -> Self {
        Self {
            symbol: symbol.into(),
            sec_type: "STK".into(),
            exchange: "SMART".into(),
            primary_exchange: primary_exchange.into(),
            currency: currency.into(),
            ..Self::default()
        }
    }

    fn write(&self, f: &mut frame::FrameBuilder) {
        f.int(self.con_id).text(&self.symbol).text(&self.sec_type);
        // lastTradeDateOrContractMonth, strike (unset), right, multiplier
        f.empty().empty().empty().empty();
        f.text(&self.exchange).text(&self.primary_exchange).text(&self.currency).text(&self.local_symbol);
        f.empty(); // tradingClass
    }
}


/// Decodes one frame's payload: split into fields, then [`decode::decode`].
///
/// # Errors
/// A [`decode::DecodeError`] when the payload is not NUL-terminated fields or a field is
/// missing or malformed.
pub fn decode_payload(server_version: u32, payload: &[u8]) -> Result<decode::Incoming, decode::DecodeError> {
    let text = frame::payload_text(payload);
    let fields = frame::fields(&text).map_err(|e| decode::DecodeError {
        msg_id: String::new(),
        field: 0,
        name: "frame",
        problem: e.to_string(),
    })?;
    decode::decode(server_version, &fields)
}
