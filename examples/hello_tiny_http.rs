//! The floor of footrest's footprint: a bare tiny_http server that answers every request with
//! "hello", built with footrest's own release profile. cross/footprint.sh measures it beside
//! footrest.
//!
//!   hello_tiny_http [ADDR]   (default 127.0.0.1:0; prints "listening on http://ADDR" to stderr)

use std::process::ExitCode;

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let server = match tiny_http::Server::http(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello_tiny_http: {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.server_addr().to_ip() {
        Some(a) => eprintln!("listening on http://{a}"),
        None => eprintln!("listening on {addr}"),
    }
    for request in server.incoming_requests() {
        let _ = request.respond(tiny_http::Response::from_string("hello\n"));
    }
    ExitCode::SUCCESS
}
