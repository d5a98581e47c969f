//! The RealTick adapter's fuzz check, shared by the fuzz target and the stable regression test
//! (`adapters/rtx/tests/fuzz_regressions.rs`): RTGW's lines, and every row they carry through
//! the mapping to the domain. Nothing may panic; what does not decode is an error.

/// The bytes as RTGW lines: each decoded, and each row read as every table's rows are.
pub fn rtx_lines(data: &[u8]) {
    use txtrader_adapter_rtx::mapping;
    use txtrader_adapter_rtx::proto::line::{self, Incoming};
    let text = String::from_utf8_lossy(data);
    let tz = chrono_tz::America::New_York;
    let open = chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default();
    for l in text.split('\n').chain(std::iter::once(text.as_ref())) {
        let row = match line::decode(l) {
            Ok(Incoming::Response { row: Some(row), .. } | Incoming::Update { row, .. }) => row,
            Ok(_) => continue,
            Err(e) => {
                // an error names the line it is about
                assert!(l.is_empty() || !e.excerpt.is_empty());
                continue;
            }
        };
        let _ = mapping::order_row(&row, false);
        let _ = mapping::order_row(&row, true);
        let _ = mapping::position(&row);
        let _ = mapping::account("ACCOUNT", &row);
        let _ = mapping::instrument(&row, tz);
        let _ = mapping::execution(&row, None, tz, txtrader_plugin_api::model::UnixNanos(1));
        if let Ok(permid) = txtrader_plugin_api::model::BrokerOrderId::new("p-1") {
            let _ = mapping::request_of(&row, &permid, None);
        }
        if let Ok(symbol) = txtrader_plugin_api::model::Symbol::new("IBM") {
            let _ = mapping::market(&symbol, &row, tz, txtrader_plugin_api::model::UnixNanos(1));
            for interval in [txtrader_plugin_api::model::BarInterval::Minutes(5), txtrader_plugin_api::model::BarInterval::Day] {
                let _ = mapping::bars(&symbol, interval, &row, tz, open);
            }
        }
        let _ = mapping::symbol_error(std::slice::from_ref(&row));
        if let Ok(a) = txtrader_plugin_api::model::AccountId::new("A.B.C.D") {
            let _ = mapping::account_summary(a, &row, txtrader_plugin_api::model::UnixNanos(1));
        }
    }
}
