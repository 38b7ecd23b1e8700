//! The slate: what a frame shows while its clip is not generated (Generate on render is off).
//!
//! A dark, opaque frame with the prompt (wrapped, cut with an ellipsis when long) and a line
//! saying how to generate, drawn with the embedded DejaVu Sans (`plugin/assets/`) through
//! `ab_glyph`. Text sizes are fractions of the frame height, so the slate reads the same at
//! 320x240 and at 4K; glyphs are narrowed by the pixel aspect ratio so they look right on
//! anamorphic frames. Nothing here panics on any text or size: a frame too small for text is
//! just dark.

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};

use crate::resample::{Canvas, Colour, srgb_to_linear};

/// DejaVu Sans 2.37; licence in `plugin/assets/DejaVuSans-LICENSE.txt` (shipped in the bundle).
const FONT_BYTES: &[u8] = include_bytes!("assets/DejaVuSans.ttf");

/// The background, a display value (dark grey rather than black, so the slate is not
/// mistaken for a failed render).
const BACKGROUND: f32 = 0.07;
/// The prompt's brightness (display value).
const PROMPT_LEVEL: f32 = 0.95;
/// The instruction line's brightness (display value).
const NOTE_LEVEL: f32 = 0.7;
/// Prompt text size as a share of the frame height.
const PROMPT_SIZE: f32 = 0.065;
/// Instruction text size as a share of the frame height.
const NOTE_SIZE: f32 = 0.05;
/// Lines of prompt shown at most; a longer prompt ends in an ellipsis.
const PROMPT_LINES: usize = 5;
/// Lines the instruction may wrap to.
const NOTE_LINES: usize = 2;
/// The share of the frame width text may use.
const TEXT_WIDTH: f32 = 0.88;
/// Line spacing as a multiple of the text size.
const LINE_SPACING: f32 = 1.25;
/// The largest text size in pixels (a glyph's coverage buffer grows with its square).
const MAX_TEXT_PX: f32 = 600.0;
/// The smallest text size in pixels, so thumbnails and tiny previews still show words (a
/// quarter of the frame height at most).
const MIN_TEXT_PX: f32 = 9.0;
/// Frames smaller than this (either side) get no text.
const MIN_SIDE: usize = 8;
/// What a cut line ends with.
const ELLIPSIS: char = '\u{2026}';

/// The embedded font, parsed once.
fn font() -> Option<&'static FontRef<'static>> {
    static FONT: std::sync::OnceLock<Option<FontRef<'static>>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
}

/// The slate's text.
#[derive(Debug, Clone, Copy)]
pub struct SlateText<'a> {
    /// The prompt (any length; may be empty).
    pub prompt: &'a str,
    /// The instruction under it, e.g. "Not generated yet: press Generate".
    pub note: &'a str,
}

/// A `width` x `height` slate for pixels `pixel_aspect` wide, in `colour` values.
/// An unusable size (zero, or a side over 65,536) is an error, as for a generated frame.
pub fn render_slate(
    width: usize,
    height: usize,
    pixel_aspect: f64,
    colour: Colour,
    text: &SlateText<'_>,
) -> Result<Canvas, String> {
    if width == 0 || height == 0 || width > 65_536 || height > 65_536 {
        return Err(format!("output size {width}x{height} is not usable"));
    }
    let mut coverage = Coverage::new(width, height);
    if width >= MIN_SIDE
        && height >= MIN_SIDE
        && let Some(font) = font()
    {
        lay_out(font, &mut coverage, pixel_aspect, text);
    }
    let to_output = |v: f32| match colour {
        Colour::Srgb => v,
        Colour::Linear => srgb_to_linear(v),
    };
    let mut rgba = Vec::with_capacity(width * height * 4);
    for &level in &coverage.level {
        let v = to_output(level);
        rgba.extend_from_slice(&[v, v, v, 1.0]);
    }
    Ok(Canvas {
        width,
        height,
        rgba,
    })
}

/// Grey levels (display values) of the frame, top-down.
struct Coverage {
    width: usize,
    height: usize,
    level: Vec<f32>,
}

impl Coverage {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            level: vec![BACKGROUND; width * height],
        }
    }

    /// Mixes `level` in at (x, y) by `amount` (0..=1); outside the frame nothing happens.
    fn paint(&mut self, x: i64, y: i64, level: f32, amount: f32) {
        let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
            return;
        };
        if x >= self.width || y >= self.height {
            return;
        }
        if let Some(px) = self.level.get_mut(y * self.width + x) {
            let a = amount.clamp(0.0, 1.0);
            *px += (level - *px) * a;
        }
    }
}

/// One block of text: its lines, size and brightness.
struct Block {
    lines: Vec<String>,
    scale: PxScale,
    level: f32,
}

/// Wraps both texts to the frame, centres them as one block and draws them.
fn lay_out(font: &FontRef<'static>, out: &mut Coverage, pixel_aspect: f64, text: &SlateText<'_>) {
    let par = if pixel_aspect.is_finite() && pixel_aspect > 0.01 && pixel_aspect < 100.0 {
        pixel_aspect as f32
    } else {
        1.0
    };
    let height = out.height as f32;
    let max_width = out.width as f32 * TEXT_WIDTH;
    let scale = |share: f32| {
        let px = (height * share)
            .max(MIN_TEXT_PX.min(height / 4.0))
            .clamp(1.0, MAX_TEXT_PX);
        PxScale { x: px / par, y: px }
    };
    let block = |text: &str, share: f32, max_lines: usize, level: f32| {
        let scale = scale(share);
        Block {
            lines: wrap(font, scale, text, max_width, max_lines),
            scale,
            level,
        }
    };
    let line_height = |b: &Block| b.scale.y * LINE_SPACING;
    // The note first: the prompt gets the lines left in the frame (at least one).
    let note = block(text.note, NOTE_SIZE, NOTE_LINES, NOTE_LEVEL);
    let prompt_scale = scale(PROMPT_SIZE);
    let left = height * 0.94 - line_height(&note) * note.lines.len() as f32 - note.scale.y;
    let prompt_lines =
        ((left / (prompt_scale.y * LINE_SPACING)).floor() as usize).clamp(1, PROMPT_LINES);
    let blocks = [
        block(text.prompt, PROMPT_SIZE, prompt_lines, PROMPT_LEVEL),
        note,
    ];
    let gap = if blocks.iter().all(|b| !b.lines.is_empty()) {
        scale(NOTE_SIZE).y
    } else {
        0.0
    };
    let total: f32 = blocks
        .iter()
        .map(|b| line_height(b) * b.lines.len() as f32)
        .sum::<f32>()
        + gap;
    let mut top = ((height - total) / 2.0).max(0.0);
    for b in &blocks {
        let scaled = font.as_scaled(b.scale);
        for line in &b.lines {
            // Centre the line; its baseline sits at the ascent below the line's top, with the
            // spacing shared above and below.
            let width = measure(font, b.scale, line);
            let x = ((out.width as f32 - width) / 2.0).max(0.0);
            let baseline = top + (line_height(b) - b.scale.y) / 2.0 + scaled.ascent();
            draw_line(font, b.scale, line, x, baseline, b.level, out);
            top += line_height(b);
        }
        if !b.lines.is_empty() {
            top += gap;
        }
    }
}

/// The glyph for `c` and its advance at `scale`.
fn glyph(font: &FontRef<'static>, scale: PxScale, c: char) -> (GlyphId, f32) {
    let id = font.glyph_id(c);
    (id, font.as_scaled(scale).h_advance(id))
}

/// The width of `text` at `scale`, in pixels.
fn measure(font: &FontRef<'static>, scale: PxScale, text: &str) -> f32 {
    text.chars().map(|c| glyph(font, scale, c).1).sum()
}

/// Draws `text` with its baseline's left end at (x, baseline).
fn draw_line(
    font: &FontRef<'static>,
    scale: PxScale,
    text: &str,
    mut x: f32,
    baseline: f32,
    level: f32,
    out: &mut Coverage,
) {
    for c in text.chars() {
        let (id, advance) = glyph(font, scale, c);
        if let Some(outlined) =
            font.outline_glyph(id.with_scale_and_position(scale, point(x, baseline)))
        {
            let bounds = outlined.px_bounds();
            let (left, top) = (bounds.min.x as i64, bounds.min.y as i64);
            outlined.draw(|gx, gy, amount| {
                out.paint(left + i64::from(gx), top + i64::from(gy), level, amount);
            });
        }
        x += advance;
        if x > out.width as f32 {
            break;
        }
    }
}

/// `text` in lines no wider than `max_width` pixels at `scale`, at most `max_lines`; words
/// wider than a line are broken between characters, and when the text does not fit the last
/// line ends with an ellipsis. Whitespace (newlines included) separates words; other control
/// characters are dropped.
fn wrap(
    font: &FontRef<'static>,
    scale: PxScale,
    text: &str,
    max_width: f32,
    max_lines: usize,
) -> Vec<String> {
    if max_lines == 0 || max_width <= 0.0 {
        return Vec::new();
    }
    let space = glyph(font, scale, ' ').1;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_width = 0.0f32;
    let mut cut = false;
    'words: for word in text.split_whitespace() {
        let word: String = word.chars().filter(|c| !c.is_control()).collect();
        if word.is_empty() {
            continue;
        }
        let word_width = measure(font, scale, &word);
        let joined = if line.is_empty() {
            word_width
        } else {
            line_width + space + word_width
        };
        if joined <= max_width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
            line_width = joined;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line_width = 0.0;
            if lines.len() == max_lines {
                cut = true;
                break 'words;
            }
        }
        // The word starts a line; break it between characters if it is wider than one.
        for c in word.chars() {
            let advance = glyph(font, scale, c).1;
            if !line.is_empty() && line_width + advance > max_width {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
                if lines.len() == max_lines {
                    cut = true;
                    break 'words;
                }
            }
            line.push(c);
            line_width += advance;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if cut && let Some(last) = lines.last_mut() {
        let ellipsis = glyph(font, scale, ELLIPSIS).1;
        while !last.is_empty() && measure(font, scale, last) + ellipsis > max_width {
            last.pop();
        }
        let kept = last.trim_end().len();
        last.truncate(kept);
        last.push(ELLIPSIS);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "Not generated yet: press Generate";

    fn slate(width: usize, height: usize, prompt: &str) -> Canvas {
        let text = SlateText { prompt, note: NOTE };
        render_slate(width, height, 1.0, Colour::Srgb, &text).expect("a slate")
    }

    /// Pixels brighter than the background by a clear margin.
    fn bright(c: &Canvas) -> usize {
        c.rgba.chunks_exact(4).filter(|p| p[0] > 0.5).count()
    }

    /// Rows holding at least one bright pixel.
    fn text_rows(c: &Canvas) -> usize {
        (0..c.height)
            .filter(|&r| c.row(r).chunks_exact(4).any(|p| p[0] > 0.5))
            .count()
    }

    #[test]
    fn the_font_parses() {
        assert!(font().is_some(), "the embedded font must parse");
    }

    #[test]
    fn a_slate_is_dark_and_opaque_with_text() {
        let c = slate(320, 240, "a red ball moving right on a black background");
        assert_eq!((c.width, c.height, c.rgba.len()), (320, 240, 320 * 240 * 4));
        assert!(c.rgba.chunks_exact(4).all(|p| p[3] == 1.0));
        let mean: f32 = c.rgba.chunks_exact(4).map(|p| p[0]).sum::<f32>() / (320.0 * 240.0);
        assert!(mean < 0.25, "mostly dark: mean {mean}");
        assert!(bright(&c) > 200, "text pixels: {}", bright(&c));
        // Grey text on grey: the channels are equal.
        assert!(c.rgba.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn text_scales_with_the_frame() {
        let prompt = "a lighthouse at dusk, waves below";
        let small = slate(320, 240, prompt);
        let large = slate(1280, 960, prompt);
        let (rows_s, rows_l) = (text_rows(&small), text_rows(&large));
        let ratio = rows_l as f64 / rows_s as f64;
        assert!(
            (3.0..5.0).contains(&ratio),
            "text height should scale with the frame: {rows_s} rows at 240, {rows_l} at 960"
        );
        let area = bright(&large) as f64 / bright(&small) as f64;
        assert!((10.0..22.0).contains(&area), "text area ratio {area}");
        // 4K: legible, not a speck and not a wall.
        let uhd = slate(3840, 2160, prompt);
        let share = text_rows(&uhd) as f64 / 2160.0;
        assert!(
            (0.05..0.6).contains(&share),
            "text rows share at 4K {share}"
        );
    }

    #[test]
    fn tiny_frames_still_show_words() {
        let c = slate(96, 72, "a red ball");
        assert!(bright(&c) > 20, "text pixels at 96x72: {}", bright(&c));
    }

    #[test]
    fn linear_output_darkens_the_background() {
        let text = SlateText {
            prompt: "x",
            note: NOTE,
        };
        let c = render_slate(64, 64, 1.0, Colour::Linear, &text).expect("slate");
        assert!((c.rgba[0] - srgb_to_linear(BACKGROUND)).abs() < 1e-6);
    }

    #[test]
    fn long_prompts_wrap_and_end_in_an_ellipsis() {
        let font = font().expect("font");
        let scale = PxScale::from(16.0);
        let long = "a red ball bouncing on a wooden floor ".repeat(300);
        let lines = wrap(font, scale, &long, 280.0, 5);
        assert_eq!(lines.len(), 5);
        assert!(lines[4].ends_with(ELLIPSIS), "{lines:?}");
        for l in &lines {
            assert!(measure(font, scale, l) <= 280.0 + 0.01, "{l:?} is too wide");
        }
        let short = wrap(font, scale, "a cat", 280.0, 5);
        assert_eq!(short, vec!["a cat".to_string()]);
        // One unbroken word wider than a line breaks between characters.
        let word = "x".repeat(500);
        let lines = wrap(font, scale, &word, 100.0, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with(ELLIPSIS));
        // Newlines are spaces; control characters vanish.
        assert_eq!(
            wrap(font, scale, "a\nb\t\u{7}c", 280.0, 5),
            vec!["a b c".to_string()]
        );
        assert!(wrap(font, scale, "", 280.0, 5).is_empty());
        assert!(wrap(font, scale, "   \n ", 280.0, 5).is_empty());
        assert!(wrap(font, scale, "abc", 0.0, 5).is_empty());
        assert!(wrap(font, scale, "abc", 100.0, 0).is_empty());
    }

    #[test]
    fn never_panics_on_odd_text_or_sizes() {
        let prompts = [
            String::new(),
            " ".repeat(10_000),
            "word ".repeat(20_000),
            "x".repeat(100_000),
            "日本語のプロンプト、富士山と桜 🌸🚀👩‍👩‍👧 مرحبا בעולם Ελληνικά ñ̃́".into(),
            "\u{0}\u{1}\u{200b}\u{feff}\u{fffd}\u{10ffff}\r\n\t".into(),
            "e\u{301}\u{302}\u{303}\u{304}\u{305}".repeat(500),
        ];
        for prompt in &prompts {
            for (w, h) in [
                (1, 1),
                (7, 300),
                (300, 7),
                (8, 8),
                (33, 17),
                (320, 240),
                (1000, 60),
            ] {
                let c = slate(w, h, prompt);
                assert_eq!(c.rgba.len(), w * h * 4);
                assert!(
                    c.rgba
                        .iter()
                        .all(|v| v.is_finite() && (0.0..=1.0).contains(v))
                );
            }
        }
        for par in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 2.0, 1e9] {
            let text = SlateText {
                prompt: "anamorphic",
                note: NOTE,
            };
            assert!(render_slate(120, 90, par, Colour::Srgb, &text).is_ok());
        }
        for (w, h) in [(0, 10), (10, 0), (70_000, 10)] {
            assert!(
                render_slate(
                    w,
                    h,
                    1.0,
                    Colour::Srgb,
                    &SlateText {
                        prompt: "a",
                        note: NOTE
                    }
                )
                .is_err()
            );
        }
        // The note alone, when the prompt is empty.
        assert!(bright(&slate(320, 240, "")) > 50);
    }
}
