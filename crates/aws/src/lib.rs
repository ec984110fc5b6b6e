//! livestack-aws
