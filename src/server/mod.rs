//! Device mode and the built-in emulator: a real MQTT server shaped by a platform profile.
