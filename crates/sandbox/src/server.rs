//! (placeholder: server to be written)
pub struct Config; pub struct Faults; pub struct Running; pub async fn serve() {} pub async fn start() {}
