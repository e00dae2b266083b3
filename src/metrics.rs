//! Prometheus metrics. Names are listed here once so that dashboards have one place to look;
//! the `metrics` facade keeps recording cheap (an atomic add) on the hot path.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub use boardroom_actors::live::metrics::*;

pub const CONNECTIONS: &str = "boardroom_connections";
pub const JOURNAL_DEPTH: &str = "boardroom_journal_depth";
pub const COMMIT_BATCH_SIZE: &str = "boardroom_commit_batch_size";
/// One group commit: the store's transaction, from its first statement to its commit.
pub const COMMIT_SECONDS: &str = "boardroom_commit_seconds";
/// Per op: from its entry into the write-behind journal (right after its board applied it)
/// to the moment its group commit is durable and its board is told (the commit watermark).
pub const TIME_TO_DURABLE_SECONDS: &str = "boardroom_time_to_durable_seconds";
pub const FORWARDS: &str = "boardroom_forwards_total";
pub const GAPS_REPAIRED: &str = "boardroom_gaps_repaired_total";
pub const LEASES_HELD: &str = "boardroom_leases_held";
pub const LEASE_CHANGES: &str = "boardroom_lease_changes_total";
/// WebSocket sessions ended by a failure of the server (closed with 1011).
pub const SESSION_FAILURES: &str = "boardroom_session_failures_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once); later calls return the same handle.
pub fn install() -> Option<&'static PrometheusHandle> {
    if HANDLE.get().is_none() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(COMMIT_SECONDS.into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(TIME_TO_DURABLE_SECONDS.into()),
                    &[
                        0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                        2.5,
                    ],
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(COMMIT_BATCH_SIZE.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
            })
            .map(|b| b.build_recorder());
        match recorder {
            Ok(r) => {
                let handle = r.handle();
                if metrics::set_global_recorder(r).is_ok() {
                    let _ = HANDLE.set(handle);
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics recorder not installed"),
        }
    }
    HANDLE.get()
}

pub fn render() -> String {
    HANDLE.get().map(|h| h.render()).unwrap_or_default()
}
