//! livestack-model
