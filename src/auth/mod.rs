//! Credential schemes of the supported IoT platforms.
