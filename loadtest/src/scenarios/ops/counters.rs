//! The server's write-behind counters, read from `/metrics`: ops and batches committed, and
//! the commit-time histogram.

use serde::{Deserialize, Serialize};

/// The server's write-behind counters at one moment (`/metrics`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct CommitCounters {
    pub batches: f64,
    pub ops: f64,
    pub commit_secs: f64,
    /// `boardroom_commit_seconds` bucket counts, by upper bound in seconds.
    #[serde(skip)]
    pub buckets: [f64; 12],
}

const COMMIT_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The server's write-behind counters (`/metrics`); None when it does not expose them.
pub(super) async fn commit_counters(http: &reqwest::Client, url: &str) -> Option<CommitCounters> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    parse_counters(&text)
}

/// One sample line of the Prometheus text format, `name{labels} value` (or `name value`).
struct Sample<'a> {
    name: &'a str,
    /// What is between the braces (empty without labels).
    labels: &'a str,
    /// None: not a number.
    value: Option<f64>,
}

impl<'a> Sample<'a> {
    /// The sample lines of `text` (comments and blank lines skipped).
    fn all(text: &'a str) -> impl Iterator<Item = Sample<'a>> {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let end = line.find(['{', ' '])?;
                let labels = match line[end..].strip_prefix('{') {
                    Some(rest) => rest.split('}').next()?,
                    None => "",
                };
                Some(Sample {
                    name: &line[..end],
                    labels,
                    value: line.rsplit(' ').next()?.parse().ok(),
                })
            })
    }

    /// The value of label `key`.
    fn label(&self, key: &str) -> Option<&'a str> {
        self.labels
            .split(',')
            .find_map(|kv| kv.trim().strip_prefix(key)?.strip_prefix("=\""))
            .and_then(|v| v.split('"').next())
    }
}

pub fn parse_counters(text: &str) -> Option<CommitCounters> {
    // The sum over a metric's label sets; None when it is absent (or a value is no number).
    let value = |name: &str| -> Option<f64> {
        Sample::all(text)
            .filter(|s| s.name == name)
            .try_fold(None, |sum: Option<f64>, s| {
                Some(Some(sum.unwrap_or(0.0) + s.value?))
            })?
    };
    let mut c = CommitCounters {
        batches: value("boardroom_commit_batch_size_count")?,
        ops: value("boardroom_commit_batch_size_sum")?,
        commit_secs: value("boardroom_commit_seconds_sum").unwrap_or(0.0),
        buckets: [0.0; 12],
    };
    for s in Sample::all(text).filter(|s| s.name == "boardroom_commit_seconds_bucket") {
        let le = s.label("le").and_then(|v| v.parse::<f64>().ok());
        if let (Some(le), Some(v)) = (le, s.value) {
            if let Some(i) = COMMIT_BOUNDS.iter().position(|b| (b - le).abs() < 1e-9) {
                c.buckets[i] += v;
            }
        }
    }
    Some(c)
}

/// The upper bound of the bucket holding the 99th percentile of the commits between `a` and
/// `b` (cumulative buckets).
pub(super) fn p99_bound_ms(a: &CommitCounters, b: &CommitCounters) -> Option<f64> {
    let total = b.batches - a.batches;
    if total <= 0.0 {
        return None;
    }
    for (i, bound) in COMMIT_BOUNDS.iter().enumerate() {
        if b.buckets[i] - a.buckets[i] >= 0.99 * total {
            return Some(bound * 1000.0);
        }
    }
    Some(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_counters_from_metrics() {
        let text = "# TYPE boardroom_commit_seconds histogram\n\
            boardroom_commit_seconds_bucket{le=\"0.0005\"} 1\n\
            boardroom_commit_seconds_bucket{le=\"0.001\"} 50\n\
            boardroom_commit_seconds_bucket{le=\"0.0025\"} 99\n\
            boardroom_commit_seconds_bucket{le=\"0.005\"} 100\n\
            boardroom_commit_seconds_bucket{le=\"+Inf\"} 100\n\
            boardroom_commit_seconds_sum 0.1\n\
            boardroom_commit_seconds_count 100\n\
            boardroom_commit_batch_size_sum 4000\n\
            boardroom_commit_batch_size_count 100\n";
        let c = parse_counters(text).unwrap();
        assert_eq!((c.batches, c.ops, c.commit_secs), (100.0, 4000.0, 0.1));
        assert_eq!(p99_bound_ms(&CommitCounters::default(), &c), Some(2.5));
        assert!(parse_counters("nothing here").is_none());
    }
}
