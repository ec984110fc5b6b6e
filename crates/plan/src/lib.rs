//! livestack-plan
