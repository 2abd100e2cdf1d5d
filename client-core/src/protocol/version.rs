//! Protocol version negotiation (the `join` → `peer` handshake).

/// The only protocol version automerge-repo 2.x speaks.
pub const PROTOCOL_VERSION: &str = "1";

/// The version to put in `peer.selectedProtocolVersion`, given a `join`'s
/// `supportedProtocolVersions`; `None` means answer with an `error` message
/// and close, as the JS server does.
pub fn negotiate(offered: &[String]) -> Option<&'static str> {
    offered
        .iter()
        .any(|version| version == PROTOCOL_VERSION)
        .then_some(PROTOCOL_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_version_one_when_offered() {
        assert_eq!(negotiate(&["1".to_owned()]), Some("1"));
        assert_eq!(negotiate(&["2".to_owned(), "1".to_owned()]), Some("1"));
    }

    #[test]
    fn refuses_when_version_one_is_not_offered() {
        assert_eq!(negotiate(&[]), None);
        assert_eq!(negotiate(&["2".to_owned(), "1.0".to_owned()]), None);
    }
}
