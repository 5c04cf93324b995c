//! The parameter control drawn on a node: a knob (drag up or right to raise,
//! Shift for fine steps, double-click for the default) beside a readout
//! that turns into a text field when clicked, for typing a value; choice
//! parameters are a drop-down. The knob maps its travel through the
//! parameter's curve, so frequencies move by ratios.

use egui::{Color32, Pos2, Response, Sense, Stroke, Ui, Vec2, WidgetInfo, WidgetType};
use patchbay_core::ParamSpec;
use patchbay_core::registry::{Curve, Unit};

/// Knob travel per pixel of drag, as a share of the whole range.
const COARSE_PER_PIXEL: f64 = 1.0 / 150.0;
/// Shift divides the step by this.
const FINE_DIVISOR: f64 = 10.0;
/// The lowest value a log knob reaches above zero, as a share of its maximum,
/// when its range starts at zero.
const LOG_FLOOR: f64 = 1e-4;
const KNOB_DIAMETER: f32 = 22.0;

/// What the user did to a parameter this frame.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamEvent {
    /// Dragging: the value so far.
    Drag(f64),
    /// The drag ended.
    DragEnd,
    /// A value typed (text as entered) or picked.
    Typed(String),
    /// Picked from a list (choice parameters).
    Set(f64),
    /// Double-clicked: back to the default.
    Reset,
}

/// The knob position (0..1) of `value`.
pub fn to_travel(spec: &ParamSpec, value: f64) -> f64 {
    let (lo, hi) = (spec.min, spec.max);
    if hi <= lo {
        return 0.0;
    }
    match spec.curve {
        Curve::Log if hi > 0.0 => {
            let floor = if lo > 0.0 { lo } else { hi * LOG_FLOOR };
            if value <= floor {
                0.0
            } else {
                ((value / floor).ln() / (hi / floor).ln()).clamp(0.0, 1.0)
            }
        }
        _ => ((value - lo) / (hi - lo)).clamp(0.0, 1.0),
    }
}

/// The value at knob position `travel` (0..1).
pub fn from_travel(spec: &ParamSpec, travel: f64) -> f64 {
    let t = travel.clamp(0.0, 1.0);
    let (lo, hi) = (spec.min, spec.max);
    match spec.curve {
        Curve::Log if hi > 0.0 => {
            let floor = if lo > 0.0 { lo } else { hi * LOG_FLOOR };
            if t <= 0.0 {
                lo
            } else {
                floor * (hi / floor).powf(t)
            }
        }
        _ => lo + t * (hi - lo),
    }
}

/// A value as the readout shows it: four significant digits and the unit.
pub fn readout(spec: &ParamSpec, value: f64) -> String {
    if spec.unit == Unit::Choice {
        return spec
            .choices
            .get(value as usize)
            .copied()
            .unwrap_or("?")
            .to_string();
    }
    let shown = if spec.unit == Unit::Percent {
        value * 100.0
    } else {
        value
    };
    let digits = if shown == 0.0 {
        0
    } else {
        (3 - shown.abs().log10().floor() as i32).clamp(0, 4) as usize
    };
    let number = format!("{shown:.digits$}");
    match spec.unit.suffix() {
        "" => number,
        unit => format!("{number} {unit}"),
    }
}

/// Where the text field of a parameter being typed keeps its text.
fn typing_id(ui: &Ui, id: egui::Id) -> egui::Id {
    ui.id().with(id).with("typing")
}

/// Draw one parameter's control; `label` names it for screen readers and
/// tests (`node.param`).
pub fn param_control(ui: &mut Ui, label: &str, spec: &ParamSpec, value: f64) -> Option<ParamEvent> {
    if spec.unit == Unit::Choice {
        return choice(ui, label, spec, value);
    }
    let mut event = None;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(KNOB_DIAMETER), Sense::click_and_drag());
    let travel = to_travel(spec, value);
    response.widget_info(|| WidgetInfo::slider(true, value, label));
    if response.double_clicked() {
        event = Some(ParamEvent::Reset);
    } else if response.dragged() {
        let delta = response.drag_delta();
        let pixels = (delta.x - delta.y) as f64;
        let fine = ui.input(|i| i.modifiers.shift);
        let step = COARSE_PER_PIXEL / if fine { FINE_DIVISOR } else { 1.0 };
        if pixels != 0.0 {
            event = Some(ParamEvent::Drag(from_travel(spec, travel + pixels * step)));
        }
    } else if response.drag_stopped() {
        event = Some(ParamEvent::DragEnd);
    }
    draw_knob(ui, rect, travel as f32, &response);
    response.on_hover_text(format!(
        "{}\ndrag · Shift: fine · double-click: default",
        spec.doc
    ));

    let id = typing_id(ui, egui::Id::new(label));
    let field_id = id.with("field");
    // The text typed so far, and whether the field is new (and takes focus).
    let mut typing: Option<(String, bool)> = ui.data(|d| d.get_temp(id));
    match &mut typing {
        Some((text, new)) => {
            let edit = ui.add(
                egui::TextEdit::singleline(text)
                    .hint_text(readout(spec, value))
                    .desired_width(72.0)
                    .id(field_id),
            );
            if std::mem::take(new) {
                edit.request_focus();
            }
            edit.widget_info(|| {
                let mut info = WidgetInfo::text_edit(true, "", text.as_str(), "");
                info.label = Some(format!("{label} typed"));
                info
            });
            let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
            if escape || (edit.lost_focus() && text.trim().is_empty()) {
                typing = None;
            } else if edit.lost_focus() {
                event = Some(ParamEvent::Typed(std::mem::take(text)));
                typing = None;
            }
        }
        None => {
            let shown = ui.add(
                egui::Button::new(egui::RichText::new(readout(spec, value)).monospace())
                    .frame(false)
                    .min_size(Vec2::new(72.0, 0.0)),
            );
            shown.widget_info(|| WidgetInfo::labeled(WidgetType::Button, true, format!("{label} value")));
            if shown.clicked() {
                typing = Some((String::new(), true));
            }
            shown.on_hover_text(format!("{label}: click to type a value"));
        }
    }
    ui.data_mut(|d| match typing {
        Some(t) => {
            d.insert_temp(id, t);
        }
        None => {
            d.remove::<String>(id);
        }
    });
    event
}

fn choice(ui: &mut Ui, label: &str, spec: &ParamSpec, value: f64) -> Option<ParamEvent> {
    let mut picked = None;
    egui::ComboBox::from_id_salt(label)
        .selected_text(readout(spec, value))
        .show_ui(ui, |ui| {
            for (i, name) in spec.choices.iter().enumerate() {
                if ui.selectable_label(i == value as usize, *name).clicked() {
                    picked = Some(ParamEvent::Set(i as f64));
                }
            }
        });
    picked
}

fn draw_knob(ui: &Ui, rect: egui::Rect, travel: f32, response: &Response) {
    let painter = ui.painter();
    let visuals = ui.style().interact(response);
    let centre = rect.center();
    let radius = rect.width() * 0.5 - 1.0;
    painter.circle(centre, radius, visuals.bg_fill, visuals.bg_stroke);
    // The knob sweeps 270 degrees, from lower left to lower right.
    let start = std::f32::consts::PI * 0.75;
    let sweep = std::f32::consts::PI * 1.5;
    let arc = |t: f32| {
        let a = start + sweep * t;
        Pos2::new(centre.x + a.cos() * radius, centre.y + a.sin() * radius)
    };
    let points: Vec<Pos2> = (0..=24).map(|k| arc(travel * k as f32 / 24.0)).collect();
    painter.add(egui::Shape::line(
        points,
        Stroke::new(2.5, Color32::from_rgb(240, 170, 60)),
    ));
    painter.line_segment([centre, arc(travel)], Stroke::new(2.0, visuals.fg_stroke.color));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_knobs_move_by_ratios_and_round_trip() {
        let freq = ParamSpec::new("freq", 0.0, 20_000.0, 440.0).log();
        let a = to_travel(&freq, 100.0);
        let b = to_travel(&freq, 1000.0);
        let c = to_travel(&freq, 10_000.0);
        assert!(((b - a) - (c - b)).abs() < 1e-9, "a decade is the same travel");
        for v in [5.0, 55.0, 440.0, 19_000.0] {
            assert!((from_travel(&freq, to_travel(&freq, v)) - v).abs() < 1e-6 * v);
        }
        assert_eq!(from_travel(&freq, 0.0), 0.0);
        assert_eq!(from_travel(&freq, 1.0), 20_000.0);
        let gain = ParamSpec::new("gain", -60.0, 12.0, 0.0);
        assert_eq!(to_travel(&gain, -24.0), 0.5);
    }

    #[test]
    fn readouts_keep_four_digits_and_the_unit() {
        let freq = ParamSpec::new("freq", 0.0, 20_000.0, 440.0).unit(Unit::Hz);
        assert_eq!(readout(&freq, 437.23456), "437.2 Hz");
        assert_eq!(readout(&freq, 12_345.6), "12346 Hz");
        let mix = ParamSpec::new("mix", 0.0, 1.0, 0.5).unit(Unit::Percent);
        assert_eq!(readout(&mix, 0.25), "25.00 %");
        let shape = ParamSpec::choice("shape", &["sine", "square"], 0);
        assert_eq!(readout(&shape, 1.0), "square");
    }
}
