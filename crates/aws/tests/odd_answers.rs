//! Answers that make no sense are errors that name the call, never "gone": only a 404 or a
//! DELETED state mean a resource does not exist. A small HTTP server on loopback gives the
//! real aws-sdk clients each answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use livestack_model::Address;
use livestack_plan::Hasher;

/// Serves `status` and `body` (with `headers`) to every request, on a port of its own.
fn serve(status: u16, headers: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut skip = vec![0; length];
            let _ = reader.read_exact(&mut skip);
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    url
}

fn read(url: String, address: &str) -> Result<Option<String>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clients = livestack_aws::connect(&livestack_aws::Target {
            region: Some("us-east-1".into()),
            endpoint_url: Some(url),
            dummy_credentials: true,
            profile: None,
        })
        .await
        .unwrap();
        let a = Address::parse(address).unwrap();
        clients
            .read(&a, "1234", &Hasher::new(b"k"))
            .await
            .map(|o| o.map(|o| o.id))
            .map_err(|e| e.to_string())
    })
}

#[test]
fn a_read_answered_200_without_an_id_is_an_error_naming_the_call() {
    for address in [
        "medialive_channel.main",
        "medialive_input.main",
        "medialive_input_security_group.main",
        "mediapackage_channel.main",
        "mediapackage_endpoint.main",
    ] {
        let e = read(serve(200, "", r#"{"name": "main"}"#), address).unwrap_err();
        assert!(
            e.starts_with("Describe")
                && e.contains(address)
                && e.contains("HTTP 200 without the resource's `id`"),
            "{address}: {e}"
        );
        let e = read(serve(200, "", ""), address).unwrap_err();
        assert!(
            e.contains(address) && e.contains("HTTP 200 with an empty or unreadable body"),
            "{address}: {e}"
        );
    }
}

#[test]
fn only_a_404_or_a_deleted_state_is_gone() {
    let gone = read(
        serve(
            404,
            "x-amzn-errortype: NotFoundException\r\n",
            r#"{"message": "no such channel"}"#,
        ),
        "medialive_channel.main",
    );
    assert_eq!(gone, Ok(None));
    let deleted = read(
        serve(200, "", r#"{"id": "1234", "state": "DELETED"}"#),
        "medialive_channel.main",
    );
    assert_eq!(deleted, Ok(None));
    let live = read(
        serve(
            200,
            "",
            r#"{"id": "1234", "state": "IDLE", "name": "main"}"#,
        ),
        "medialive_channel.main",
    );
    assert_eq!(live, Ok(Some("1234".into())));
    // An error code the SDK does not know is an error with the code, not "gone".
    let odd = read(
        serve(
            400,
            "x-amzn-errortype: SomethingNewException\r\n",
            r#"{"message": "what is this"}"#,
        ),
        "medialive_channel.main",
    )
    .unwrap_err();
    assert!(
        odd.contains("DescribeChannel") && odd.contains("SomethingNewException"),
        "{odd}"
    );
}
