//! The TWS decoder's fuzz check, shared by the fuzz target and the stable regression test
//! (`adapters/tws/tests/fuzz_regressions.rs`).

/// The TWS wire: frames, then each frame's fields, at every server version spoken.
pub fn tws_decode(data: &[u8]) {
    use txtrader_adapter_tws::proto::{self, frame::FrameReader};
    for version in [176, 177, 178] {
        let mut reader = FrameReader::new();
        reader.extend(data);
        while let Ok(Some(payload)) = reader.next_frame() {
            let _ = proto::decode_payload(version, payload);
        }
        // the same bytes as one payload, unframed
        let _ = proto::decode_payload(version, data);
    }
}
