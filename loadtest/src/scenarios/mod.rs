//! The scenarios of the library: fan-out, the comparison with the peers, overload, idle connections, durable writes, charts.

pub mod compare;
pub mod connect;
pub mod fanout;
pub mod ops;
pub mod overload;
pub mod report;
