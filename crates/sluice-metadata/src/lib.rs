//! sluice-metadata (being built).
