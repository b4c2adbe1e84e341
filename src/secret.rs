//! Secret values (device secrets, tokens, passwords) that must never be printed.
