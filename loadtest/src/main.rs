//! Load generator for Boardroom. The scenarios (connect, fanout, ops, cluster, failover) and
//! the peer comparison arrive with the load-test issue; until then this binary only says so.

fn main() {
    eprintln!("boardroom-loadtest: no scenarios yet (see the load-test issue)");
    std::process::exit(2);
}
