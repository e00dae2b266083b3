//! Who writes which board, and how events reach other nodes. One node needs neither a lease
//! nor a broker beyond its own hub; the cluster adds Redis implementations of the same traits.

pub mod single;
