//! The two SVG plots for docs/performance.md, drawn with plotters' SVG backend only (no
//! fonts or bitmap code to build: text goes into the SVG as text).

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One point of the downloads-versus-clients curve.
pub struct DownloadPoint {
    pub clients: usize,
    pub gbps: f64,
    pub peak_rss_mib: f64,
}

/// One point of the listar-versus-folder-size curve.
pub struct ListPoint {
    pub files: usize,
    /// The first `listar` after the folder changed (builds the reply), median.
    pub cold_ms: f64,
    /// A `listar` answered from the cached reply, median.
    pub warm_ms: f64,
    /// The bench itself reading the folder's names, unsorted: the kernel's share.
    pub readdir_ms: f64,
}

type Result<T> = std::result::Result<T, String>;

/// Which figure of a point a curve shows.
type Pick = fn(&ListPoint) -> f64;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Throughput on the left, peak RSS on the right, both against the number of clients.
pub fn downloads(path: &Path, points: &[DownloadPoint]) -> Result<()> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (left, right) = root.split_horizontally(480);
    let max_clients = points.iter().map(|p| p.clients).max().unwrap_or(1).max(10) as f64;
    let gbps: Vec<(f64, f64)> = points.iter().map(|p| (p.clients as f64, p.gbps)).collect();
    let rss: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.clients as f64, p.peak_rss_mib))
        .collect();
    panel(
        &left,
        "Aggregate download throughput",
        "GB/s",
        max_clients,
        &gbps,
        &BLUE,
        None,
    )?;
    panel(
        &right,
        "servidor peak RSS",
        "MiB",
        max_clients,
        &rss,
        &RED,
        Some((8.0, "target 8 MiB")),
    )?;
    root.present().map_err(err)
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    max_x: f64,
    data: &[(f64, f64)],
    color: &RGBColor,
    target: Option<(f64, &str)>,
) -> Result<()> {
    let top = data
        .iter()
        .map(|p| p.1)
        .chain(target.map(|t| t.0))
        .fold(0.0f64, f64::max)
        * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((1f64..max_x).log_scale(), 0f64..top.max(0.1))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrent downloading clients")
        .y_desc(unit)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))
        .map_err(err)?
        .label("measured")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart
        .draw_series(data.iter().map(|&p| Circle::new(p, 4, color.filled())))
        .map_err(err)?;
    if let Some((level, label)) = target {
        chart
            .draw_series(LineSeries::new(
                [(1.0, level), (max_x, level)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)
}

/// Time per `listar` against the number of files, both axes logarithmic.
pub fn listar(path: &Path, points: &[ListPoint]) -> Result<()> {
    let root = SVGBackend::new(path, (640, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max_files = points.iter().map(|p| p.files).max().unwrap_or(10).max(100) as f64;
    let lowest = points
        .iter()
        .flat_map(|p| [p.cold_ms, p.warm_ms, p.readdir_ms])
        .fold(f64::INFINITY, f64::min)
        .clamp(1e-4, 1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption("Time per listar as archivos/ grows", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (1f64..max_files * 2.0).log_scale(),
            (lowest / 2.0..200f64).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("files in archivos/")
        .y_desc("ms per listar (client round trip)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(err)?;
    let series: [(&str, RGBColor, Pick); 3] = [
        ("first listar after a change", BLUE, |p| p.cold_ms),
        ("cached reply", GREEN, |p| p.warm_ms),
        ("readdir alone (kernel floor)", RGBColor(128, 128, 128), |p| {
            p.readdir_ms
        }),
    ];
    for (label, color, pick) in series {
        let data: Vec<(f64, f64)> = points.iter().map(|p| (p.files as f64, pick(p))).collect();
        chart
            .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(data.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .draw_series(LineSeries::new(
            [(1.0, 50.0), (max_files * 2.0, 50.0)],
            RED.mix(0.6).stroke_width(1),
        ))
        .map_err(err)?
        .label("target: 100,000 files under 50 ms")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.mix(0.6)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
