//! livestack-state
