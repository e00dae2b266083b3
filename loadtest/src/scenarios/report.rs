//! `report`: the JSON results of `fanout`, `compare` and `connect` turned into SVG charts
//! (plotters) and one Markdown summary:
//!
//! - `latency-<config>.svg`: latency percentiles (p50 … max, log scale) per server, for each
//!   fanout configuration (boards × subscribers at a rate);
//! - `throughput-vs-subscribers.svg`: deliveries/s per server against subscribers per board;
//! - `throughput-vs-offered-<config>.svg`: delivered against offered deliveries/s, when a
//!   configuration was run at several rates (where a server stops keeping up);
//! - `durable-vs-offered-<store>.svg`: time to durable (p50 and p99 of the `ops --rate` runs
//!   with `durability = commit`) against offered ops/s, log-log, per run label;
//! - `summary.md`: the median of each (configuration, server) over its runs.
//!
//! Several runs of one (configuration, server) — rounds of `compare` — are reduced to their
//! median per figure.

use crate::scenarios::compare::kept_up;
use crate::scenarios::ops::OpsResult;
use crate::stats::{ConnectResult, FanoutResult};
use anyhow::{Context, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Directory of JSON results (searched recursively).
    #[arg(long, default_value = "loadtest/results")]
    pub results: PathBuf,
    /// Where the SVGs and summary.md go (default: the results directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The series a run belongs to (a server, and for Boardroom its path and durability).
pub fn series_of(r: &FanoutResult) -> String {
    if r.server == "boardroom" {
        format!("{} {} {}", r.label, r.path, r.durability)
    } else {
        r.label.clone()
    }
}

/// The configuration a run belongs to.
pub fn config_of(r: &FanoutResult) -> String {
    format!(
        "{}x{}-p{}",
        r.boards,
        r.subscribers / r.boards.max(1),
        r.publishers
    )
}

/// The p99 a run may have and still count as sustained (as `compare --sustained-p99-ms`).
const SUSTAINED_P99_MS: f64 = 50.0;

fn collect(
    dir: &Path,
    fan: &mut Vec<FanoutResult>,
    con: &mut Vec<ConnectResult>,
    ops: &mut Vec<OpsResult>,
) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, fan, con, ops)?;
            continue;
        }
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&p)?) else {
            continue;
        };
        match v["scenario"].as_str() {
            Some("fanout") => fan.push(serde_json::from_value(v)?),
            Some("compare-fanout") => {
                for r in v["runs"].as_array().into_iter().flatten() {
                    fan.push(serde_json::from_value(r.clone())?);
                }
            }
            Some("connect") => con.push(serde_json::from_value(v)?),
            // Only open-loop runs have an offered rate to chart against.
            Some("ops") if v["rate"].is_number() && v["durability"] == "commit" => {
                ops.push(serde_json::from_value(v)?)
            }
            _ => {}
        }
    }
    Ok(())
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

type Err = Box<dyn std::error::Error + Send + Sync>;

fn latency_chart(path: &Path, title: &str, series: &BTreeMap<String, [f64; 5]>) -> Result<(), Err> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let lo = series
        .values()
        .flat_map(|v| v.iter())
        .copied()
        .filter(|x| *x > 0.0)
        .fold(f64::INFINITY, f64::min)
        .clamp(0.01, 1.0);
    let hi = series
        .values()
        .flat_map(|v| v.iter())
        .copied()
        .fold(0.0f64, f64::max)
        .max(lo * 10.0);
    let names = ["p50", "p90", "p99", "p99.9", "max"];
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.2f64..4.2f64, (lo * 0.8..hi * 1.5).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| {
            let i = x.round() as usize;
            if (x - x.round()).abs() < 0.01 && i < names.len() {
                names[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("latency, op sent -> delivered (ms)")
        .draw()?;
    let points: BTreeMap<String, Vec<(f64, f64)>> = series
        .iter()
        .map(|(name, v)| {
            let pts = v
                .iter()
                .enumerate()
                .filter(|(_, y)| **y > 0.0)
                .map(|(x, y)| (x as f64, *y))
                .collect();
            (name.clone(), pts)
        })
        .collect();
    lines(&mut chart, &points, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

fn xy_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
    diagonal: bool,
) -> Result<(), Err> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let xs = series.values().flatten().map(|p| p.0);
    let xmax = xs.fold(0.0f64, f64::max).max(1.0) * 1.1;
    let ymax = series
        .values()
        .flatten()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(if diagonal { xmax } else { 1.0 })
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{:.0}k", y / 1000.0))
        .draw()?;
    if diagonal {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (xmax, xmax)],
                BLACK.mix(0.3).stroke_width(1),
            ))?
            .label("offered")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.3)));
    }
    lines(&mut chart, series, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

/// Each series as a line with dots (points sorted by x), and the legend.
fn lines<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
    legend: SeriesLabelPosition,
) -> Result<(), Err>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = color(i);
        let mut pts = pts.clone();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()?;
    Ok(())
}

/// Points on log scales in both directions (positive values only).
fn log_log_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<(), Err> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let all: Vec<(f64, f64)> = series
        .values()
        .flatten()
        .copied()
        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
        .collect();
    let range = |v: Vec<f64>| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0f64, f64::max);
        if lo.is_finite() && hi > 0.0 {
            (lo * 0.7, hi * 1.5)
        } else {
            (0.1, 10.0)
        }
    };
    let (x0, x1) = range(all.iter().map(|p| p.0).collect());
    let (y0, y1) = range(all.iter().map(|p| p.1).collect());
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()?;
    let positive: BTreeMap<String, Vec<(f64, f64)>> = series
        .iter()
        .map(|(name, pts)| {
            let pts = pts.iter().copied().filter(|p| p.0 > 0.0 && p.1 > 0.0);
            (name.clone(), pts.collect())
        })
        .collect();
    lines(&mut chart, &positive, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn run(a: &ReportArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.results.clone());
    std::fs::create_dir_all(&out)?;
    let (mut fan, mut con, mut ops) = (Vec::new(), Vec::new(), Vec::new());
    collect(&a.results, &mut fan, &mut con, &mut ops)?;
    // A `compare` result repeats the runs it also wrote one file each for: count each once.
    let mut seen = std::collections::HashSet::new();
    fan.retain(|r| {
        seen.insert((
            series_of(r),
            config_of(r),
            r.rate_ops.to_bits(),
            r.unix_time,
        ))
    });
    let mut written = Vec::new();
    let mut md = String::from("# Load-test results (medians over runs)\n\n");

    // (config, rate) -> series -> runs
    let mut groups: BTreeMap<(String, u64), BTreeMap<String, Vec<&FanoutResult>>> = BTreeMap::new();
    for r in &fan {
        groups
            .entry((config_of(r), r.rate_ops.round() as u64))
            .or_default()
            .entry(series_of(r))
            .or_default()
            .push(r);
    }
    if !groups.is_empty() {
        md.push_str("## Fanout\n\n| boards × subs/board, publishers | ops/s | server | runs | deliveries/s | p50 ms | p90 | p99 | p99.9 | max | missing | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    }
    for ((config, rate), series) in &groups {
        let mut lat: BTreeMap<String, [f64; 5]> = BTreeMap::new();
        for (name, runs) in series {
            let m = |f: &dyn Fn(&FanoutResult) -> f64| median(runs.iter().map(|r| f(r)).collect());
            let v = [
                m(&|r| r.latency.p50_ms),
                m(&|r| r.latency.p90_ms),
                m(&|r| r.latency.p99_ms),
                m(&|r| r.latency.p999_ms),
                m(&|r| r.latency.max_ms),
            ];
            lat.insert(name.clone(), v);
            md.push_str(&format!(
                "| {config} | {rate} | {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
                runs.len(),
                m(&|r| r.deliveries_per_sec),
                v[0],
                v[1],
                v[2],
                v[3],
                v[4],
                runs.iter().map(|r| r.missing).sum::<u64>(),
                runs.iter().map(|r| r.errors.values().sum::<u64>()).sum::<u64>(),
            ));
        }
        let file = out.join(format!("latency-{}-r{rate}.svg", safe(config)));
        latency_chart(
            &file,
            &format!("fanout {config}, {rate} ops/s: latency percentiles"),
            &lat,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        written.push(file);
    }

    // Throughput against subscribers per board: per series, the median deliveries/s at the
    // highest rate that most of its runs sustained (see `kept_up`).
    // series -> subscribers per board -> rate -> runs
    let mut by_subs: BTreeMap<String, BTreeMap<usize, BTreeMap<u64, Vec<&FanoutResult>>>> =
        BTreeMap::new();
    for r in &fan {
        by_subs
            .entry(series_of(r))
            .or_default()
            .entry(r.subscribers / r.boards.max(1))
            .or_default()
            .entry(r.rate_ops.round() as u64)
            .or_default()
            .push(r);
    }
    let pts: BTreeMap<String, Vec<(f64, f64)>> = by_subs
        .iter()
        .map(|(s, m)| {
            let best = m.iter().filter_map(|(&subs, rates)| {
                rates
                    .values()
                    .filter(|runs| {
                        2 * runs.iter().filter(|r| kept_up(r, SUSTAINED_P99_MS)).count()
                            > runs.len()
                    })
                    .map(|runs| median(runs.iter().map(|r| r.deliveries_per_sec).collect()))
                    .reduce(f64::max)
                    .map(|d| (subs as f64, d))
            });
            (s.clone(), best.collect())
        })
        .collect();
    if pts.values().any(|v| !v.is_empty()) {
        let file = out.join("throughput-vs-subscribers.svg");
        xy_chart(
            &file,
            &format!("fanout: sustained deliveries/s (p99 <= {SUSTAINED_P99_MS} ms) against subscribers per board"),
            "subscribers per board",
            "deliveries/s",
            &pts,
            false,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        written.push(file);
    }

    // Delivered against offered, where a configuration ran at several rates.
    // config -> series -> rate -> (offered, delivered) per run
    type ByRate = BTreeMap<u64, Vec<(f64, f64)>>;
    let mut by_config: BTreeMap<String, BTreeMap<String, ByRate>> = BTreeMap::new();
    for r in &fan {
        by_config
            .entry(config_of(r))
            .or_default()
            .entry(series_of(r))
            .or_default()
            .entry(r.rate_ops.round() as u64)
            .or_default()
            .push((r.offered_deliveries_per_sec, r.deliveries_per_sec));
    }
    for (config, series) in &by_config {
        if series.values().all(|rates| rates.len() < 2) {
            continue;
        }
        let pts: BTreeMap<String, Vec<(f64, f64)>> = series
            .iter()
            .map(|(s, rates)| {
                (
                    s.clone(),
                    rates
                        .values()
                        .map(|v| (v[0].0, median(v.iter().map(|p| p.1).collect())))
                        .collect(),
                )
            })
            .collect();
        let file = out.join(format!("throughput-vs-offered-{}.svg", safe(config)));
        xy_chart(
            &file,
            &format!("fanout {config}: delivered against offered (median of rounds)"),
            "offered deliveries/s",
            "delivered deliveries/s",
            &pts,
            true,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        written.push(file);
    }

    // Time to durable against offered ops/s: store -> "label p50|p99" -> rate -> medians.
    let mut by_store: BTreeMap<String, BTreeMap<String, BTreeMap<u64, Vec<f64>>>> = BTreeMap::new();
    for r in &ops {
        let Some(l) = r.durable_latency.filter(|l| l.count > 0) else {
            continue;
        };
        let rate = r.rate.unwrap_or(0.0).round() as u64;
        let series = by_store.entry(r.store.clone()).or_default();
        for (q, v) in [("p50", l.p50_ms), ("p99", l.p99_ms)] {
            series
                .entry(format!("{} {q}", r.label))
                .or_default()
                .entry(rate)
                .or_default()
                .push(v);
        }
    }
    if !by_store.is_empty() {
        md.push_str("\n## Time to durable (ops, commit, open loop)\n\n| store | series | offered ops/s | runs | ms (median) |\n|---|---|---|---|---|\n");
    }
    for (store, series) in &by_store {
        let mut pts: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (name, rates) in series {
            for (rate, v) in rates {
                let m = median(v.clone());
                md.push_str(&format!(
                    "| {store} | {name} | {rate} | {} | {m:.2} |\n",
                    v.len()
                ));
                pts.entry(name.clone()).or_default().push((*rate as f64, m));
            }
        }
        let file = out.join(format!("durable-vs-offered-{}.svg", safe(store)));
        log_log_chart(
            &file,
            &format!("{store}: time to durable (op sent -> ok, commit) against offered load"),
            "offered ops/s",
            "time to durable (ms)",
            &pts,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        written.push(file);
    }

    if !con.is_empty() {
        md.push_str("\n## Connect\n\n");
        md.push_str(ConnectResult::MARKDOWN_HEADER);
        md.push('\n');
        for c in &con {
            md.push_str(&c.markdown_row());
            md.push('\n');
        }
    }
    let summary = out.join("summary.md");
    std::fs::write(&summary, md)?;
    written.push(summary);
    println!(
        "{} fanout runs, {} connect runs, {} open-loop ops runs; wrote:",
        fan.len(),
        con.len(),
        ops.len()
    );
    for w in written {
        println!("  {}", w.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_render_to_svg() {
        let dir = std::env::temp_dir().join(format!("br-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut lat = BTreeMap::new();
        lat.insert("a".to_string(), [1.0, 2.0, 5.0, 9.0, 20.0]);
        lat.insert("b".to_string(), [0.5, 0.9, 2.0, 4.0, 8.0]);
        latency_chart(&dir.join("l.svg"), "t", &lat).unwrap();
        let mut xy = BTreeMap::new();
        xy.insert("a".to_string(), vec![(10.0, 9.0), (100.0, 80.0)]);
        xy_chart(&dir.join("x.svg"), "t", "x", "y", &xy, true).unwrap();
        log_log_chart(&dir.join("d.svg"), "t", "x", "y", &xy).unwrap();
        assert!(std::fs::read_to_string(dir.join("d.svg"))
            .unwrap()
            .starts_with("<svg"));
        let svg = std::fs::read_to_string(dir.join("l.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
        assert!(svg.contains("p99"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![1.0, 2.0]), 1.5);
        assert!(median(vec![]).is_nan());
    }
}
