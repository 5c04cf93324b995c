//! Drawing what analysis nodes publish (see `patchbay_nodes::taps` for the
//! layouts): a meter's level bars, a scope's trace, a spectrum's curve. Read
//! once per frame from the node's [`Tap`]; nothing here waits on the audio
//! thread.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Ui, Vec2};
use patchbay_core::Tap;

/// The quietest level the meter and spectrum show.
pub const FLOOR_DB: f32 = -72.0;

const TRACE: Color32 = Color32::from_rgb(120, 220, 140);
const PEAK: Color32 = Color32::from_rgb(240, 200, 80);
const BACKGROUND: Color32 = Color32::from_rgb(20, 24, 28);

/// Decibels of a linear level, floored.
pub fn db(level: f32) -> f32 {
    (20.0 * level.max(1e-9).log10()).max(FLOOR_DB)
}

/// Where `level_db` sits between the floor (0) and 0 dBFS (1).
pub fn meter_fraction(level_db: f32) -> f32 {
    ((level_db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0)
}

/// Draw the readings of analysis node `kind` in a box of `size`; a grey box
/// with a note while nothing is playing.
pub fn draw(ui: &mut Ui, kind: &str, tap: Option<&Tap>, size: Vec2) {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, BACKGROUND);
    let Some(tap) = tap else {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "audio off",
            egui::FontId::proportional(11.0),
            Color32::GRAY,
        );
        return;
    };
    let values = tap.snapshot();
    match kind {
        "meter" => {
            let text = meter(&painter, rect, &values);
            response.on_hover_text(text);
        }
        "scope" => trace(&painter, rect, &values, |v| v.clamp(-1.0, 1.0) * 0.5 + 0.5),
        "spectrum" => spectrum(&painter, rect, &values),
        _ => {}
    }
    // Readings move while audio plays: draw again next frame.
    ui.ctx().request_repaint();
}

/// Level bars, one per channel: RMS filled, peak as a line, held peak as a
/// tick. Returns the levels as text.
fn meter(painter: &egui::Painter, rect: Rect, values: &[f32]) -> String {
    let channels = values.len() / 3;
    if channels == 0 {
        return String::new();
    }
    let bar_height = rect.height() / channels as f32;
    let mut text = Vec::new();
    for ch in 0..channels {
        let (peak, rms, held) = (values[ch], values[channels + ch], values[2 * channels + ch]);
        let top = rect.top() + ch as f32 * bar_height;
        let row = Rect::from_min_size(
            Pos2::new(rect.left(), top + 1.0),
            Vec2::new(rect.width(), bar_height - 2.0),
        );
        let at = |level: f32| row.left() + row.width() * meter_fraction(db(level));
        painter.rect_filled(
            Rect::from_x_y_ranges(row.left()..=at(rms), row.y_range()),
            1.0,
            TRACE,
        );
        painter.line_segment(
            [Pos2::new(at(peak), row.top()), Pos2::new(at(peak), row.bottom())],
            Stroke::new(1.0, TRACE),
        );
        painter.line_segment(
            [Pos2::new(at(held), row.top()), Pos2::new(at(held), row.bottom())],
            Stroke::new(2.0, PEAK),
        );
        text.push(format!(
            "ch {}: RMS {:.1} dB, peak {:.1} dB",
            ch + 1,
            db(rms),
            db(peak)
        ));
    }
    text.join("\n")
}

/// A polyline of `values` across the box, each mapped by `height` to 0..1
/// (bottom to top).
fn trace(painter: &egui::Painter, rect: Rect, values: &[f32], height: impl Fn(f32) -> f32) {
    if values.len() < 2 {
        return;
    }
    let last = (values.len() - 1) as f32;
    let points: Vec<Pos2> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            Pos2::new(
                rect.left() + rect.width() * i as f32 / last,
                rect.bottom() - rect.height() * height(v),
            )
        })
        .collect();
    painter.add(egui::Shape::line(points, Stroke::new(1.2, TRACE)));
}

/// The spectrum on a log frequency axis (bins 1..N), levels in dB.
fn spectrum(painter: &egui::Painter, rect: Rect, levels: &[f32]) {
    if levels.len() < 3 {
        return;
    }
    let top_bin = (levels.len() - 1) as f32;
    let points: Vec<Pos2> = (1..levels.len())
        .map(|bin| {
            let x = (bin as f32).ln() / top_bin.ln();
            let y = meter_fraction(levels[bin].max(FLOOR_DB));
            Pos2::new(rect.left() + rect.width() * x, rect.bottom() - rect.height() * y)
        })
        .collect();
    painter.add(egui::Shape::line(points, Stroke::new(1.2, TRACE)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_scale_runs_from_the_floor_to_full_scale() {
        assert_eq!(meter_fraction(db(1.0)), 1.0);
        assert_eq!(meter_fraction(db(0.0)), 0.0);
        assert!((meter_fraction(db(0.5)) - (1.0 - 6.0206 / 72.0)).abs() < 1e-4);
    }
}
