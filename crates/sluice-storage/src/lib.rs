//! sluice-storage (being built).
