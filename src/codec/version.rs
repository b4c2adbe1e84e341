//! Protocol versions the codec speaks.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// An MQTT protocol version, as carried by the CONNECT packet's protocol level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    #[serde(rename = "3.1")]
    V3_1,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    #[serde(rename = "3.1.1")]
    V3_1_1,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    #[serde(rename = "5.0")]
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT for this version.
    pub fn level(self) -> u8 {
        match self {
            Self::V3_1 => 3,
            Self::V3_1_1 => 4,
            Self::V5 => 5,
        }
    }

    /// The protocol name CONNECT carries for this version.
    pub fn protocol_name(self) -> &'static str {
        match self {
            Self::V3_1 => "MQIsdp",
            Self::V3_1_1 | Self::V5 => "MQTT",
        }
    }

    /// The version with this protocol level, if any.
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            3 => Some(Self::V3_1),
            4 => Some(Self::V3_1_1),
            5 => Some(Self::V5),
            _ => None,
        }
    }

    /// True for MQTT 5.0, which adds properties and reason codes to most packets.
    pub fn is_v5(self) -> bool {
        self == Self::V5
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_1 => "3.1",
            Self::V3_1_1 => "3.1.1",
            Self::V5 => "5.0",
        })
    }
}

impl FromStr for ProtocolVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "3.1" | "3" => Ok(Self::V3_1),
            "3.1.1" | "4" => Ok(Self::V3_1_1),
            "5" | "5.0" => Ok(Self::V5),
            other => Err(format!(
                "unknown MQTT protocol version `{other}` (expected 3.1, 3.1.1 or 5)"
            )),
        }
    }
}
