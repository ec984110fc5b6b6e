//! Architecture invariants, checked from the Cargo.toml files: the pure core stays pure.

use std::path::Path;

fn deps(krate: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Only the [dependencies] table (dev-dependencies may use anything).
    let start = text
        .find("[dependencies]")
        .map(|i| i + "[dependencies]".len())
        .unwrap_or(text.len());
    let rest = &text[start..];
    let end = rest.find("\n[").unwrap_or(rest.len());
    rest[..end].to_string()
}

#[test]
fn model_and_plan_name_no_aws_sdk_tokio_or_io_crate() {
    for krate in ["model", "plan"] {
        let d = deps(krate);
        for forbidden in [
            "aws-sdk",
            "aws-config",
            "aws-smithy",
            "tokio",
            "axum",
            "hyper",
            "reqwest",
        ] {
            assert!(
                !d.contains(forbidden),
                "crates/{krate} must not depend on {forbidden}:\n{d}"
            );
        }
    }
}

#[test]
fn only_the_aws_crate_names_the_sdk() {
    for krate in ["model", "plan", "state", "sandbox"] {
        let d = deps(krate);
        assert!(
            !d.contains("aws-sdk"),
            "crates/{krate} must not depend on an aws-sdk crate:\n{d}"
        );
    }
}

#[test]
fn the_sandbox_depends_on_no_livestack_crate() {
    let d = deps("sandbox");
    assert!(
        !d.contains("livestack-"),
        "crates/sandbox must stand alone:\n{d}"
    );
}

#[test]
fn anyhow_only_in_the_binary() {
    for krate in ["model", "plan", "state", "aws", "sandbox"] {
        assert!(
            !deps(krate).contains("anyhow"),
            "crates/{krate} must use its own error enum, not anyhow"
        );
    }
}
