//! Charts as server-rendered SVG: no script, no library, readable by screen
//! readers (each chart has a title, a description and a data table beside
//! it), and every number drawn is also printed.

use maud::{html, Markup};

/// The drawing's width in user units; it scales to the column (about 1:1 on a laptop).
const W: f64 = 520.0;
const ROW: f64 = 28.0;

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Horizontal bars, one per (label, value); `suffix` follows each value.
pub fn bars(id: &str, title: &str, rows: &[(String, f64)], suffix: &str) -> Markup {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let label_w = 150.0;
    let bar_w = W - label_w - 70.0;
    let h = ROW * rows.len().max(1) as f64 + 8.0;
    html! {
        figure.chart {
            figcaption #(format!("{id}-title")) { (title) }
            svg viewBox=(format!("0 0 {W} {h}")) role="img"
                aria-labelledby=(format!("{id}-title {id}-desc")) data-chart=(id) {
                desc #(format!("{id}-desc")) {
                    @for (label, v) in rows { (label) ": " (fmt(*v)) (suffix) ". " }
                }
                @if rows.is_empty() {
                    text x="4" y="20" { "No data yet." }
                }
                @for (i, (label, v)) in rows.iter().enumerate() {
                    @let y = 4.0 + i as f64 * ROW;
                    @let len = (v / max * bar_w).max(if *v > 0.0 { 2.0 } else { 0.0 });
                    text x=(label_w - 8.0) y=(y + 17.0) text-anchor="end" { (label) }
                    rect.bar x=(label_w) y=(y + 4.0) width=(format!("{len:.1}")) height=(ROW - 10.0)
                        data-value=(fmt(*v)) {}
                    text x=(label_w + len + 6.0) y=(y + 17.0) { (fmt(*v)) (suffix) }
                }
            }
        }
    }
}

/// Vertical columns over time (e.g. emails per day).
pub fn columns(id: &str, title: &str, rows: &[(String, f64)]) -> Markup {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1.0);
    let h = 220.0;
    let top = 20.0;
    let base = h - 40.0;
    let n = rows.len().max(1) as f64;
    let step = (W - 40.0) / n;
    let col = (step * 0.7).max(2.0);
    html! {
        figure.chart {
            figcaption #(format!("{id}-title")) { (title) }
            svg viewBox=(format!("0 0 {W} {h}")) role="img"
                aria-labelledby=(format!("{id}-title {id}-desc")) data-chart=(id) {
                desc #(format!("{id}-desc")) {
                    @for (label, v) in rows { (label) ": " (fmt(*v)) ". " }
                }
                line.axis x1="30" y1=(base) x2=(W - 5.0) y2=(base) {}
                text x="2" y=(top + 4.0) { (fmt(max)) }
                text x="2" y=(base) { "0" }
                @for (i, (label, v)) in rows.iter().enumerate() {
                    @let x = 35.0 + i as f64 * step;
                    @let len = v / max * (base - top);
                    rect.bar x=(format!("{x:.1}")) y=(format!("{:.1}", base - len)) width=(format!("{col:.1}"))
                        height=(format!("{len:.1}")) data-value=(fmt(*v)) {}
                    @if *v > 0.0 {
                        text x=(format!("{:.1}", x + col / 2.0)) y=(format!("{:.1}", base - len - 4.0))
                            text-anchor="middle" { (fmt(*v)) }
                    }
                    @if rows.len() <= 8 || (rows.len() - 1 - i) % 2 == 0 {
                        text x=(format!("{:.1}", x + col / 2.0)) y=(base + 16.0) text-anchor="middle" { (label) }
                    }
                }
            }
        }
    }
}

/// A line of percentages over time; `None` leaves a gap.
pub fn percent_line(id: &str, title: &str, rows: &[(String, Option<f64>)]) -> Markup {
    let h = 220.0;
    let top = 20.0;
    let base = h - 40.0;
    let n = rows.len().max(2) as f64;
    let step = (W - 80.0) / (n - 1.0);
    let point = |i: usize, v: f64| (50.0 + i as f64 * step, base - v * (base - top));
    let mut path = String::new();
    let mut pen_down = false;
    for (i, (_, v)) in rows.iter().enumerate() {
        match v {
            Some(v) => {
                let (x, y) = point(i, *v);
                path.push_str(&format!(
                    "{}{x:.1},{y:.1} ",
                    if pen_down { "L" } else { "M" }
                ));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    html! {
        figure.chart {
            figcaption #(format!("{id}-title")) { (title) }
            svg viewBox=(format!("0 0 {W} {h}")) role="img"
                aria-labelledby=(format!("{id}-title {id}-desc")) data-chart=(id) {
                desc #(format!("{id}-desc")) {
                    @for (label, v) in rows {
                        (label) ": " @if let Some(v) = v { (format!("{:.1}%", v * 100.0)) } @else { "no decisions" } ". "
                    }
                }
                line.axis x1="45" y1=(base) x2=(W - 5.0) y2=(base) {}
                line.axis x1="45" y1=(top) x2="45" y2=(base) {}
                text x="0" y=(top + 4.0) { "100%" }
                text x="14" y=(base) { "0%" }
                @if !path.is_empty() { path.line d=(path.trim_end()) {} }
                @for (i, (label, v)) in rows.iter().enumerate() {
                    @let (x, _) = point(i, 0.0);
                    @if let Some(v) = v {
                        @let (_, y) = point(i, *v);
                        circle.dot cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="4"
                            data-value=(format!("{:.1}", v * 100.0)) {}
                    }
                    @if rows.len() <= 8 || (rows.len() - 1 - i) % 2 == 0 {
                        text x=(format!("{x:.1}")) y=(base + 16.0) text-anchor="middle" { (label) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_printed() {
        let svg = bars(
            "t",
            "T",
            &[("<script>x</script>".into(), 3.0), ("b".into(), 1.5)],
            "",
        )
        .into_string();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("data-value=\"3\""));
        assert!(svg.contains("data-value=\"1.5\""));
    }

    #[test]
    fn a_gap_in_the_line_starts_a_new_segment() {
        let svg = percent_line(
            "a",
            "A",
            &[
                ("w1".into(), Some(0.5)),
                ("w2".into(), None),
                ("w3".into(), Some(1.0)),
            ],
        )
        .into_string();
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
