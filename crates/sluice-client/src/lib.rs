//! sluice-client (being built).
