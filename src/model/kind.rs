//! Which exchange a connector serves: the names, as the real connector takes them.

/// The exchanges the real `connector` binary supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    BinanceFutures,
    BinanceSpot,
    Bybit,
}

impl ConnectorType {
    /// All types, in the order the help text lists them.
    pub const ALL: [ConnectorType; 3] = [
        ConnectorType::BinanceFutures,
        ConnectorType::BinanceSpot,
        ConnectorType::Bybit,
    ];

    /// The CLI spelling, as the real connector takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorType::BinanceFutures => "binancefutures",
            ConnectorType::BinanceSpot => "binancespot",
            ConnectorType::Bybit => "bybit",
        }
    }
}

impl std::fmt::Display for ConnectorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
