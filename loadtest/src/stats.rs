//! Clock, latency histograms, `/proc` readings and the result records every scenario writes.

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static BASE: OnceLock<Instant> = OnceLock::new();

/// Microseconds since this process's first call: the timestamps publishers put in their
/// messages and subscribers subtract from their arrival time (same process, same clock).
pub fn now_us() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The `now_us` value of an `Instant` (0 for instants before the base).
pub fn us_at(at: Instant) -> u64 {
    at.saturating_duration_since(*BASE.get_or_init(Instant::now))
        .as_micros() as u64
}

pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Latency histogram in microseconds, 1 µs .. 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Histograms shared by many tasks: a task records into shard `i % n`, so with two runtime
/// threads a lock is almost never contended, and thousands of subscribers do not each need
/// their own (150 KiB) histogram.
pub struct Sharded {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Sharded {
    pub fn new(n: usize) -> Self {
        Self {
            shards: (0..n.max(1)).map(|_| Mutex::new(histogram())).collect(),
        }
    }

    pub fn record(&self, shard: usize, us: u64) {
        if let Ok(mut h) = self.shards[shard % self.shards.len()].lock() {
            h.saturating_record(us.max(1));
        }
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut all = histogram();
        for s in &self.shards {
            if let Ok(h) = s.lock() {
                let _ = all.add(&*h);
            }
        }
        all
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    /// The five columns every results table shows for a latency: p50, p90, p99, p99.9, max.
    pub fn cells(&self) -> String {
        format!(
            "{:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }

    pub fn line(&self) -> String {
        format!(
            "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
            self.count, self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }
}

/// CPU time (user + system) of a process, in seconds, from `/proc/<pid>/stat`.
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    // USER_HZ is 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)); no libc needed.
    100
}

/// What a run's measured window cost in CPU, on both sides.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    /// CPU used, in cores (1.0 = one core busy the whole window).
    pub client_cpu: f64,
    /// None: no server pid to read.
    pub server_cpu: Option<f64>,
    /// How busy the server's (pinned) CPUs were over the window, 0..1, softirq included: at
    /// 1.0 the server's core is saturated, whatever its own CPU time says.
    #[serde(default)]
    pub server_core_busy: Option<f64>,
}

/// The readings at the start of a measured window that [`Usage`] is the difference from.
pub struct UsageMeter {
    server_pid: Option<u32>,
    cores: Vec<usize>,
    client: Option<f64>,
    server: Option<f64>,
    jiffies: Option<(u64, u64)>,
}

impl UsageMeter {
    /// Reads now: this process's CPU time, the server's (`server_pid`) and the jiffies of
    /// the CPUs the server is pinned to (`cores`; empty: not pinned, not read).
    pub fn start(server_pid: Option<u32>, cores: Vec<usize>) -> Self {
        Self {
            client: cpu_secs(None),
            server: server_pid.and_then(|p| cpu_secs(Some(p))),
            jiffies: cpus_jiffies(&cores).filter(|_| !cores.is_empty()),
            server_pid,
            cores,
        }
    }

    /// Reads again and divides by the window (`secs`) that passed since `start`.
    pub fn finish(&self, secs: f64) -> Usage {
        let per_sec = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / secs);
        let core_busy = match (self.jiffies, cpus_jiffies(&self.cores)) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                Some((b1 - b0) as f64 / (t1 - t0) as f64)
            }
            _ => None,
        };
        Usage {
            client_cpu: per_sec(self.client, cpu_secs(None)).unwrap_or(0.0),
            server_cpu: per_sec(self.server, self.server_pid.and_then(|p| cpu_secs(Some(p)))),
            server_core_busy: core_busy,
        }
    }
}

/// Busy and total jiffies of the listed CPUs (`/proc/stat`): busy counts user, nice, system,
/// irq and softirq (on loopback, the kernel's TCP work for the receiving sockets runs in
/// softirq on the sending core, and is charged to no process).
pub fn cpus_jiffies(cpus: &[usize]) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let (mut busy, mut total) = (0u64, 0u64);
    for cpu in cpus {
        let name = format!("cpu{cpu}");
        let line = s
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        busy += get(0) + get(1) + get(2) + get(5) + get(6);
        total += (0..8).map(get).sum::<u64>();
    }
    Some((busy, total))
}

/// A `taskset -c` CPU list (`0`, `0,2`, `0-3`) as CPU numbers.
pub fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Resident set size of a process in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&s, "VmRSS:").map(|k| k * 1024)
}

pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The machine a result was measured on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_gib: f64,
    pub cpu_model: String,
    pub load_avg_1m: f64,
}

impl Machine {
    pub fn here() -> Self {
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| parse_status_kib(&s, "MemTotal:"))
            .unwrap_or(0);
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_default();
        let load_avg_1m = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
            .unwrap_or(0.0);
        Self {
            // All CPUs of the machine, not just this process's affinity mask.
            nproc: std::fs::read_to_string("/proc/cpuinfo")
                .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or(nproc),
            mem_total_gib: mem as f64 / (1024.0 * 1024.0),
            cpu_model,
            load_avg_1m,
        }
    }
}

/// One fanout run against one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FanoutResult {
    pub scenario: String,
    /// `boardroom`, `bare` or `socketio`.
    pub server: String,
    pub label: String,
    pub path: String,
    /// As passed on the command line (the server's setting is not visible to the client).
    pub durability: String,
    pub encoding: String,
    pub boards: usize,
    pub subscribers: usize,
    pub publishers: usize,
    /// Offered ops (publishes) per second, all publishers together.
    pub rate_ops: f64,
    /// Offered deliveries per second: rate × subscribers per board.
    pub offered_deliveries_per_sec: f64,
    pub seconds: f64,
    pub ops_sent: u64,
    pub ops_acked: u64,
    /// Refused ops and closed connections, by code.
    pub errors: BTreeMap<String, u64>,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    /// Deliveries that arrived within the publishing window, per second of it.
    pub deliveries_per_sec: f64,
    pub missing: u64,
    /// Of `missing`, those of subscribers whose connection ended during the run (closed with
    /// 4009 when too slow, for instance): what the others missed is loss, these are not.
    #[serde(default)]
    pub missing_on_closed: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Mean size of one delivered frame (bytes of the WebSocket payload).
    pub frame_bytes: f64,
    /// Op sent (its scheduled time) -> event received.
    pub latency: Latency,
    /// Op sent -> `ok` received (Boardroom only).
    pub ack_latency: Option<Latency>,
    /// The highest op -> event latency of each quarter second of the window, in ms, by the
    /// ops' scheduled send time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_timeline_max_ms: Vec<f64>,
    #[serde(flatten)]
    pub usage: Usage,
    /// Server CPU time per delivery in the window, in µs: robust to a shared, busy machine
    /// (a server that gets less CPU than it needs shows it as latency, not here).
    #[serde(default)]
    pub server_us_per_delivery: Option<f64>,
    pub server_rss_mib: Option<f64>,
    pub machine: Machine,
    pub unix_time: u64,
}

impl FanoutResult {
    pub const MARKDOWN_HEADER: &'static str = "| server | path | durability | boards × subs | pubs | offered ops/s | deliveries/s | p50 | p90 | p99 | p99.9 | max | errors | missing | dup | client CPU | server CPU | server µs/delivery | server core busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    pub fn markdown_row(&self) -> String {
        let errors: u64 = self.errors.values().sum();
        format!(
            "| {} | {} | {} | {} × {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {} | {} | {} |",
            self.label,
            self.path,
            self.durability,
            self.boards,
            self.subscribers / self.boards.max(1),
            self.publishers,
            self.rate_ops,
            self.deliveries_per_sec,
            self.latency.cells(),
            errors,
            self.missing,
            self.duplicates,
            self.usage.client_cpu,
            cell_fixed(self.usage.server_cpu, 2),
            cell_fixed(self.server_us_per_delivery, 2),
            cell_percent(self.usage.server_core_busy),
        )
    }
}

/// One `connect` run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConnectResult {
    pub scenario: String,
    pub server: String,
    pub label: String,
    pub requested: usize,
    pub connected: u64,
    pub failed: u64,
    pub processes: usize,
    pub sources: Vec<String>,
    pub seconds_to_connect: f64,
    pub connects_per_sec: f64,
    /// Handshake (TCP + upgrade + hello/welcome) latency.
    pub connect_latency: Latency,
    pub server_rss_before_mib: Option<f64>,
    pub server_rss_after_mib: Option<f64>,
    pub server_rss_per_conn_kib: Option<f64>,
    pub held_secs: f64,
    /// Connections still open at the end of the hold.
    pub still_open: u64,
    /// Each node, with `connect --urls` (the RSS fields above are then their sums).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeConnect>,
    pub machine: Machine,
    pub unix_time: u64,
}

/// One node of a `connect --urls` run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeConnect {
    pub url: String,
    pub pid: Option<u32>,
    pub connected: u64,
    pub failed: u64,
    pub rss_before_mib: Option<f64>,
    pub rss_after_mib: Option<f64>,
    pub rss_per_conn_kib: Option<f64>,
}

impl ConnectResult {
    pub const MARKDOWN_HEADER: &'static str = "| server | connections | processes | sources | connects/s | connect p50 | p99 | RSS before | RSS after | RSS per conn | still open after hold |\n|---|---|---|---|---|---|---|---|---|---|---|";

    pub fn markdown_row(&self) -> String {
        let mib = |x: Option<f64>| cell(x, |v| format!("{v:.1} MiB"));
        format!(
            "| {} | {} / {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {} | {} | {} |",
            self.label,
            self.connected,
            self.requested,
            self.processes,
            self.sources.len(),
            self.connects_per_sec,
            self.connect_latency.p50_ms,
            self.connect_latency.p99_ms,
            mib(self.server_rss_before_mib),
            mib(self.server_rss_after_mib),
            cell(self.server_rss_per_conn_kib, |v| format!("{v:.2} KiB")),
            self.still_open,
        )
    }
}

/// A table cell for a value the run may not have measured (no server pid, `apply`
/// durability, a store not checked): `-` says "not measured", which `0` would hide.
pub fn cell<T>(v: Option<T>, show: impl FnOnce(T) -> String) -> String {
    v.map(show).unwrap_or_else(|| "-".into())
}

/// [`cell`] of a number with `decimals` places.
pub fn cell_fixed(v: Option<f64>, decimals: usize) -> String {
    cell(v, |x| format!("{x:.decimals$}"))
}

/// [`cell`] of a 0..1 share, as a whole percent.
pub fn cell_percent(v: Option<f64>) -> String {
    cell(v, |x| format!("{:.0} %", x * 100.0))
}

/// `--out`, the same flag for every scenario that writes its result: `fanout` (and so
/// `compare` and `overload`), `ops`, `cluster` and `failover`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OutDir {
    /// Directory for the JSON result and the Markdown row (none: print only).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl OutDir {
    /// Where to [`save`] the result; None: it is only printed.
    pub fn dir(&self) -> Option<&Path> {
        self.out.as_deref()
    }
}

/// Writes `value` as pretty JSON to `dir/<name>.json` and appends `row` to `dir/results.md`.
pub fn save(dir: &Path, name: &str, value: &impl Serialize, header: &str, row: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let md = dir.join("results.md");
    let mut text = std::fs::read_to_string(&md).unwrap_or_default();
    if !text.contains(header.lines().next().unwrap_or(header)) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(header);
        text.push('\n');
    }
    text.push_str(row);
    text.push('\n');
    std::fs::write(&md, text)?;
    println!("wrote {} and a row in {}", path.display(), md.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_dir_is_the_out_flag() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            out: OutDir,
        }
        let given = Cli::parse_from(["x", "--out", "results"]);
        assert_eq!(given.out.dir(), Some(Path::new("results")));
        assert_eq!(Cli::parse_from(["x"]).out.dir(), None);
    }

    /// `Usage` is flattened: its fields stay top-level keys of a result's JSON, as in the
    /// results written before it existed (which `report` still reads).
    #[test]
    fn usage_keys_stay_top_level() {
        let r = FanoutResult {
            usage: Usage {
                client_cpu: 0.5,
                server_cpu: Some(1.5),
                server_core_busy: None,
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["client_cpu"], 0.5);
        assert_eq!(v["server_cpu"], 1.5);
        assert!(v["server_core_busy"].is_null());
        assert!(v.get("usage").is_none());
        let mut old = v.clone();
        old.as_object_mut().unwrap().remove("server_core_busy");
        assert_eq!(serde_json::from_value::<FanoutResult>(old).unwrap(), r);
    }

    /// The row of a results table, column by column, for a run that measured some server
    /// figures and not others (`-`), so the shared cell helpers keep the published format.
    #[test]
    fn fanout_markdown_row() {
        let r = FanoutResult {
            label: "boardroom".into(),
            path: "op".into(),
            durability: "commit".into(),
            boards: 2,
            subscribers: 10,
            publishers: 3,
            rate_ops: 100.4,
            deliveries_per_sec: 999.6,
            latency: Latency {
                p50_ms: 1.0,
                p90_ms: 2.346,
                p99_ms: 3.0,
                p999_ms: 4.0,
                max_ms: 5.5,
                ..Default::default()
            },
            errors: BTreeMap::from([("a".into(), 2), ("b".into(), 1)]),
            missing: 4,
            duplicates: 1,
            usage: Usage {
                client_cpu: 0.5,
                server_cpu: Some(1.234),
                server_core_busy: Some(0.876),
            },
            server_us_per_delivery: None,
            ..Default::default()
        };
        assert_eq!(
            r.markdown_row(),
            "| boardroom | op | commit | 2 × 5 | 3 | 100 | 1000 | 1.00 ms | 2.35 ms | 3.00 ms \
             | 4.00 ms | 5.50 ms | 3 | 4 | 1 | 0.50 | 1.23 | - | 88 % |"
        );
    }

    #[test]
    fn percentiles_in_ms() {
        let mut h = histogram();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50_ms - 5.0).abs() < 0.01, "{l:?}");
        assert!((l.p99_ms - 9.9).abs() < 0.01, "{l:?}");
        assert!((l.max_ms - 10.0).abs() < 0.01, "{l:?}");
        assert_eq!(Latency::of(&histogram()), Latency::default());
    }

    #[test]
    fn sharded_histograms_merge() {
        let s = Sharded::new(4);
        for i in 0..100 {
            s.record(i, 1000 + i as u64);
        }
        let h = s.merged();
        assert_eq!(h.len(), 100);
        assert_eq!(h.min(), 1000);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0"), vec![0]);
        assert_eq!(parse_cpu_list("0,2-4"), vec![0, 2, 3, 4]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
        let (busy, total) = cpus_jiffies(&[0]).unwrap();
        assert!(busy <= total && total > 0);
    }

    #[test]
    fn proc_readings() {
        assert_eq!(
            parse_status_kib("Name:\tx\nVmRSS:\t   1234 kB\nVmSize:\t9 kB\n", "VmRSS:"),
            Some(1234)
        );
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(cpu_secs(None).is_some());
    }
}
