//! sluice-server (being built).
