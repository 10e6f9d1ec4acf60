//! Line charts drawn on the server as inline SVG: no script, nothing the
//! console's Content-Security-Policy would refuse (colours and sizes come
//! from the stylesheet's classes and SVG attributes, never `style`).
//!
//! A chart scales with the page (`viewBox`, the stylesheet makes it 100 %
//! wide), names itself to screen readers (`role="img"` with a `<title>` and
//! a `<desc>` summing up its series), tells its series apart by dash and
//! marker as well as colour, and is followed by a table of exactly the
//! numbers it plots. With nothing to plot it is a sentence instead.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use maud::{Markup, html};

/// The drawing's size in SVG units; the page scales it.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 220.0;
/// Room for the y axis's labels, the x axis's labels, and a little air; above
/// the plot, a line for the unit (beside the top label, a wide one ran into it).
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 30.0;

/// How each series is told apart without colour: a dash pattern and a marker.
const STYLES: [(Option<&str>, Marker); 4] = [
    (None, Marker::Circle),
    (Some("6 4"), Marker::Square),
    (Some("2 3"), Marker::Diamond),
    (Some("10 3 2 3"), Marker::Triangle),
];

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Diamond,
    Triangle,
}

/// One period's values, one per series (`None`: nothing to plot then).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub at: DateTime<Utc>,
    pub values: Vec<Option<f64>>,
}

/// A chart of series over a time window, and its table.
pub struct Chart<'a> {
    /// Unique on the page: the ids of the title and description start with it.
    pub id: String,
    pub title: String,
    /// What the y axis counts (`events`, `ms`).
    pub unit: &'a str,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// How long a row's period is, in words (`10 minutes`), for the table.
    pub period: &'a str,
    pub series: Vec<String>,
    pub rows: Vec<Row>,
    /// A horizontal line: its name and value (a threshold).
    pub reference: Option<(String, f64)>,
    /// Values above this are drawn at it and written `over …` (the last latency bucket).
    pub ceiling: Option<f64>,
    /// What the chart shows, in a sentence or two: its `<desc>`.
    pub summary: String,
    /// Said instead of the chart when no row has a value.
    pub empty: &'a str,
}

impl Chart<'_> {
    fn has_data(&self) -> bool {
        self.rows.iter().any(|row| row.values.iter().any(Option::is_some))
    }

    /// A value as the chart draws it: at most the ceiling.
    fn drawn(&self, value: f64) -> f64 {
        self.ceiling.map_or(value, |ceiling| value.min(ceiling))
    }

    /// A value as the table and the marker's `data-value` write it.
    fn text(&self, value: f64) -> String {
        match self.ceiling {
            Some(ceiling) if value > ceiling => format!("over {}", number(ceiling)),
            _ => number(value),
        }
    }

    fn top(&self) -> f64 {
        let values = self.rows.iter().flat_map(|row| row.values.iter().flatten()).map(|value| self.drawn(*value));
        let reference = self.reference.as_ref().map(|(_, value)| *value);
        nice_ceiling(values.chain(reference).fold(0.0, f64::max))
    }

    fn x(&self, at: DateTime<Utc>) -> f64 {
        let span = (self.until - self.from).num_milliseconds().max(1) as f64;
        let offset = (at - self.from).num_milliseconds().clamp(0, span as i64) as f64;
        LEFT + offset / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64, top: f64) -> f64 {
        TOP + (1.0 - self.drawn(value) / top) * (HEIGHT - TOP - BOTTOM)
    }
}

/// The chart, its legend and its table; or the `empty` sentence.
pub fn render(chart: &Chart<'_>) -> Markup {
    if !chart.has_data() {
        return html! { section .chart-block { h3 { (chart.title) } p .empty-chart { (chart.empty) } } };
    }
    let top = chart.top();
    let (title_id, desc_id) = (format!("{}-title", chart.id), format!("{}-desc", chart.id));
    html! {
        section .chart-block id=(chart.id) {
            h3 { (chart.title) }
            svg .chart role="img" aria-labelledby={(title_id) " " (desc_id)} viewBox={"0 0 " (WIDTH) " " (HEIGHT)}
                preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg" {
                title id=(title_id) { (chart.title) }
                desc id=(desc_id) { (chart.summary) }
                (axes(chart, top))
                @if let Some((name, value)) = &chart.reference {
                    line .reference x1=(LEFT) x2=(WIDTH - RIGHT) y1=(round(chart.y(*value, top))) y2=(round(chart.y(*value, top))) stroke-dasharray="8 4" {
                        title { (name) ": " (number(*value)) }
                    }
                }
                @for (index, name) in chart.series.iter().enumerate() {
                    (series(chart, index, name, top))
                }
            }
            (legend(chart))
            (table(chart))
        }
    }
}

/// The frame, the y axis's three labels and the x axis's times.
fn axes(chart: &Chart<'_>, top: f64) -> Markup {
    let bottom = HEIGHT - BOTTOM;
    let ticks = time_ticks(chart.from, chart.until);
    html! {
        g .axes aria-hidden="true" {
            line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(bottom) {}
            line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(bottom) y2=(bottom) {}
            @for value in [0.0, top / 2.0, top] {
                line .grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(round(chart.y(value, top))) y2=(round(chart.y(value, top))) {}
                text x=(LEFT - 6.0) y=(round(chart.y(value, top) + 4.0)) text-anchor="end" { (number(value)) }
            }
            text .unit x="4" y=(TOP - 12.0) { (chart.unit) }
            @for tick in ticks {
                text x=(round(chart.x(tick))) y=(HEIGHT - 10.0) text-anchor="middle" { (tick.format("%H:%M")) }
            }
            text x=(WIDTH - RIGHT) y=(HEIGHT - 1.0) text-anchor="end" { "UTC" }
        }
    }
}

/// One series: its line (broken where a period has no value) and a marker
/// per value, each carrying the value as the table writes it.
fn series(chart: &Chart<'_>, index: usize, name: &str, top: f64) -> Markup {
    let (dash, marker) = STYLES[index % STYLES.len()];
    let class = format!("series s{}", index % STYLES.len());
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    let mut points = Vec::new();
    for row in &chart.rows {
        match row.values.get(index).copied().flatten() {
            Some(value) => {
                let point = (round(chart.x(row.at)), round(chart.y(value, top)));
                runs.last_mut().expect("a run").push(point);
                points.push((point, chart.text(value), row.at));
            }
            None if runs.last().is_some_and(|run| !run.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    html! {
        g class=(class) data-series=(name) {
            @for run in runs.iter().filter(|run| run.len() > 1) {
                polyline .line fill="none" stroke-width="2" stroke-dasharray=[dash]
                    points=(run.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" ")) {}
            }
            @for ((x, y), text, at) in points {
                (marker_at(marker, x, y, &text, &format!("{name}, {}: {text}", at.format("%H:%M"))))
            }
        }
    }
}

fn marker_at(marker: Marker, x: f64, y: f64, value: &str, label: &str) -> Markup {
    match marker {
        Marker::Circle => html! { circle .marker cx=(x) cy=(y) r="2.5" data-value=(value) { title { (label) } } },
        Marker::Square => {
            html! { rect .marker x=(x - 2.5) y=(y - 2.5) width="5" height="5" data-value=(value) { title { (label) } } }
        }
        Marker::Diamond => html! {
            polygon .marker points=(format!("{x},{} {},{y} {x},{} {},{y}", y - 3.0, x + 3.0, y + 3.0, x - 3.0)) data-value=(value) { title { (label) } }
        },
        Marker::Triangle => html! {
            polygon .marker points=(format!("{x},{} {},{} {},{}", y - 3.0, x + 3.0, y + 2.5, x - 3.0, y + 2.5)) data-value=(value) { title { (label) } }
        },
    }
}

/// The series' names, each beside a sample of its line and marker.
fn legend(chart: &Chart<'_>) -> Markup {
    html! {
        ul .legend {
            @for (index, name) in chart.series.iter().enumerate() {
                @let (dash, marker) = STYLES[index % STYLES.len()];
                li {
                    svg class={"legend-sample s" (index % STYLES.len())} viewBox="0 0 30 10" aria-hidden="true" {
                        g .series {
                            line .line x1="0" x2="30" y1="5" y2="5" stroke-width="2" stroke-dasharray=[dash] {}
                            (marker_at(marker, 15.0, 5.0, "", ""))
                        }
                    }
                    " " (name)
                }
            }
            @if let Some((name, value)) = &chart.reference {
                li {
                    svg .legend-sample viewBox="0 0 30 10" aria-hidden="true" {
                        line .reference x1="0" x2="30" y1="5" y2="5" stroke-dasharray="8 4" {}
                    }
                    " " (name) ": " (number(*value))
                }
            }
        }
    }
}

/// The same numbers as the chart, a row per period that has any.
fn table(chart: &Chart<'_>) -> Markup {
    let reference = chart.reference.as_ref();
    html! {
        details .chart-table {
            summary { "Table" }
            div .table-wrap {
                table {
                    caption { (chart.title) ", per " (chart.period) " (UTC); periods with nothing are left out." }
                    thead {
                        tr {
                            th scope="col" { "Period from" }
                            @for name in &chart.series { th scope="col" { (name) } }
                            @if let Some((name, _)) = reference { th scope="col" { (name) } }
                        }
                    }
                    tbody {
                        @for row in chart.rows.iter().filter(|row| has_something(row)) {
                            tr {
                                th scope="row" { time datetime=(row.at.to_rfc3339()) { (row.at.format("%Y-%m-%d %H:%M")) } }
                                @for value in &row.values {
                                    td { @match value { Some(value) => (chart.text(*value)), None => "—" } }
                                }
                                @if let Some((_, value)) = reference { td { (number(*value)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether a period is worth a table row: a value other than 0.
fn has_something(row: &Row) -> bool {
    row.values.iter().flatten().any(|value| *value != 0.0)
}

/// The x axis's times: on the hour (or half or ten minutes, in a short
/// window), at most about six.
fn time_ticks(from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let span = until - from;
    let step = [10, 30, 60, 120, 240, 360]
        .into_iter()
        .map(TimeDelta::minutes)
        .find(|step| span.num_minutes() / step.num_minutes() <= 6)
        .unwrap_or(TimeDelta::hours(6));
    let mut tick = period_start(from, step);
    let mut ticks = Vec::new();
    while tick <= until {
        if tick >= from {
            ticks.push(tick);
        }
        tick += step;
    }
    ticks
}

/// The start of the `width`-long period (counted from midnight) `at` is in.
pub fn period_start(at: DateTime<Utc>, width: TimeDelta) -> DateTime<Utc> {
    let width = width.num_seconds().max(60);
    let seconds = i64::from(at.num_seconds_from_midnight()) / width * width;
    at.with_hour(0)
        .and_then(|at| at.with_minute(0))
        .and_then(|at| at.with_second(0))
        .and_then(|at| at.with_nanosecond(0))
        .map_or(at, |midnight| midnight + TimeDelta::seconds(seconds))
}

/// Every `width`-long period from the one `from` is in up to `until`.
pub fn periods(from: DateTime<Utc>, until: DateTime<Utc>, width: TimeDelta) -> Vec<DateTime<Utc>> {
    let mut at = period_start(from, width);
    let mut all = Vec::new();
    while at <= until {
        all.push(at);
        at += width;
    }
    all
}

/// 1, 2 or 5 times a power of ten, at least `value` (1 for nothing).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|step| step * magnitude).find(|top| *top >= value).unwrap_or(10.0 * magnitude)
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// `1,204`, `12.5`: whole numbers with thousands separators, others with one decimal.
pub fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    let whole = rounded.trunc() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if rounded < 0.0 { "-" } else { "" };
    let tenths = ((rounded - rounded.trunc()).abs() * 10.0).round() as i64;
    if tenths == 0 { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{tenths}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_717_243_200 + minutes * 60, 0).unwrap()
    }

    fn chart(rows: Vec<Row>) -> Chart<'static> {
        Chart {
            id: "events".into(),
            title: "Events <per> 10 minutes".into(),
            unit: "events",
            from: at(0),
            until: at(60),
            period: "10 minutes",
            series: vec!["delivered".into(), "failed & retried".into()],
            rows,
            reference: None,
            ceiling: None,
            summary: "1,204 delivered <b>".into(),
            empty: "No deliveries in the last hour.",
        }
    }

    /// The `data-value`s of one series' markers, in order.
    fn plotted(html: &str, series: &str) -> Vec<String> {
        let start = html.find(&format!("data-series=\"{series}\"")).expect("the series is drawn");
        let group = &html[start..start + html[start..].find("</g>").unwrap()];
        group.split("data-value=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].to_owned()).collect()
    }

    /// The table's cells, row by row (the period's header left out).
    fn table_cells(html: &str) -> Vec<Vec<String>> {
        let body = &html[html.find("<tbody>").unwrap()..html.find("</tbody>").unwrap()];
        body.split("<tr>")
            .skip(1)
            .map(|row| row.split("<td>").skip(1).map(|cell| cell[..cell.find("</td>").unwrap()].to_owned()).collect())
            .collect()
    }

    #[test]
    fn the_table_holds_exactly_the_numbers_plotted() {
        let rows = vec![
            Row { at: at(0), values: vec![Some(1204.0), Some(0.0)] },
            Row { at: at(10), values: vec![None, None] },
            Row { at: at(20), values: vec![Some(12.5), Some(3.0)] },
            Row { at: at(30), values: vec![Some(0.0), Some(0.0)] },
        ];
        let html = render(&chart(rows)).into_string();
        assert_eq!(plotted(&html, "delivered"), ["1,204", "12.5", "0"]);
        assert_eq!(plotted(&html, "failed &amp; retried"), ["0", "3", "0"]);
        assert_eq!(table_cells(&html), [["1,204", "0"], ["12.5", "3"]], "the periods with nothing are left out");
        assert!(html.contains(r#"<svg class="chart" role="img" aria-labelledby="events-title events-desc""#), "{html}");
    }

    #[test]
    fn values_are_scaled_into_the_drawing_and_time_runs_left_to_right() {
        let html = render(&chart(vec![
            Row { at: at(0), values: vec![Some(0.0), None] },
            Row { at: at(60), values: vec![Some(40.0), None] },
        ]))
        .into_string();
        // The top is 50 (the nice ceiling of 40): 0 at the bottom, 40 at 80 % of the height.
        let bottom = HEIGHT - BOTTOM;
        let at_40 = round(TOP + 0.2 * (bottom - TOP));
        assert!(html.contains(&format!(r#"points="{LEFT},{bottom} {},{at_40}""#, WIDTH - RIGHT)), "{html}");
        assert!(html.contains(">50</text>"), "the y axis is labelled with the top: {html}");
        assert!(html.contains(">12:00</text>") && html.contains(">13:00</text>"), "times on the x axis: {html}");
    }

    #[test]
    fn the_unit_stands_above_the_top_label_where_a_wide_label_cannot_reach_it() {
        let html = render(&chart(vec![Row { at: at(0), values: vec![Some(10_000.0), None] }])).into_string();
        // 11 px type stands about 8 units above its baseline: the unit's line ends before the label's begins.
        let (unit, label) = (TOP - 12.0, TOP + 4.0);
        assert!(unit + 4.0 <= label - 8.0);
        assert!(html.contains(&format!(r#"<text class="unit" x="4" y="{unit}">events</text>"#)), "{html}");
        assert!(html.contains(&format!(r#"y="{label}" text-anchor="end">10,000</text>"#)), "{html}");
    }

    #[test]
    fn no_values_is_a_sentence_not_a_chart() {
        let html = render(&chart(vec![Row { at: at(0), values: vec![None, None] }])).into_string();
        assert!(!html.contains("<svg"), "{html}");
        assert!(html.contains("No deliveries in the last hour."), "{html}");
        assert!(!render(&chart(Vec::new())).into_string().contains("<svg"));
    }

    #[test]
    fn text_is_escaped() {
        let html = render(&chart(vec![Row { at: at(0), values: vec![Some(1.0), None] }])).into_string();
        assert!(html.contains("Events &lt;per&gt; 10 minutes") && !html.contains("<per>"), "{html}");
        assert!(html.contains("1,204 delivered &lt;b&gt;") && !html.contains("<b>"), "{html}");
    }

    #[test]
    fn values_over_the_ceiling_are_drawn_at_it_and_said_so() {
        let mut capped = chart(vec![Row { at: at(0), values: vec![Some(10_001.0), Some(250.0)] }]);
        capped.ceiling = Some(10_000.0);
        let html = render(&capped).into_string();
        assert_eq!(plotted(&html, "delivered"), ["over 10,000"]);
        assert_eq!(table_cells(&html), [["over 10,000", "250"]]);
        assert!(html.contains(&format!(r#"cy="{TOP}""#)), "drawn at the top: {html}");
    }

    #[test]
    fn a_reference_line_is_drawn_legended_and_tabled() {
        let mut with_threshold = chart(vec![Row { at: at(0), values: vec![Some(10.0), None] }]);
        with_threshold.reference = Some(("hourly threshold".into(), 10_000.0));
        let html = render(&with_threshold).into_string();
        assert!(html.contains(r#"<line class="reference""#), "{html}");
        assert!(html.contains("hourly threshold: 10,000"), "{html}");
        assert_eq!(table_cells(&html), [["10", "—", "10,000"]]);
    }

    #[test]
    fn numbers_and_periods() {
        assert_eq!(
            [number(0.0), number(999.0), number(1204.0), number(1_234_567.0), number(12.46)],
            ["0", "999", "1,204", "1,234,567", "12.5"]
        );
        assert_eq!(nice_ceiling(40.0), 50.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(period_start(at(17), TimeDelta::minutes(10)), at(10));
        assert_eq!(periods(at(5), at(30), TimeDelta::minutes(10)), [at(0), at(10), at(20), at(30)]);
    }
}
