//! Fitting a generated frame into the host's output frame.
//!
//! The model makes small frames (e.g. 64x64 or 576x320); the timeline wants its project size at
//! the current render scale, with its pixel aspect ratio. [`render_canvas`] places the frame on
//! a canvas of the output's full size with the chosen [`Fit`], resampling with
//! `fast_image_resize` (Catmull-Rom), and converts to the chosen output colour. The canvas is
//! top-down RGBA f32; the render code copies the requested window out of it.

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// How the frame fills the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fit {
    /// The whole frame, scaled to fit, with black bars.
    Fit,
    /// Cover the output, cropping what sticks out.
    Fill,
    /// Scale each axis independently.
    Stretch,
}

/// The output's colour encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Colour {
    /// The model's display-referred sRGB values, as they are.
    Srgb,
    /// Linear light (sRGB EOTF applied).
    Linear,
}

/// A full output frame, top-down rows of RGBA f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<f32>,
}

impl Canvas {
    /// The pixels of top-down row `row`.
    pub fn row(&self, row: usize) -> &[f32] {
        let n = self.width * 4;
        self.rgba.get(row * n..(row + 1) * n).unwrap_or(&[])
    }
}

/// sRGB electro-optical transfer function (IEC 61966-2-1).
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB's inverse EOTF (encoding linear light as display values), the inverse of
/// [`srgb_to_linear`].
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// A rectangle in canvas pixels: x, y (top-left), width, height.
type Rect = (usize, usize, usize, usize);

/// Where the frame goes on the canvas and which part of it is used, for a fit mode.
/// Returns (destination rect, source crop as left, top, width, height in source pixels).
fn layout(
    src: (usize, usize),
    canvas: (usize, usize),
    par: f64,
    fit: Fit,
) -> (Rect, (f64, f64, f64, f64)) {
    let (sw, sh) = (src.0 as f64, src.1 as f64);
    let (cw, ch) = (canvas.0, canvas.1);
    // Work in display units: a canvas pixel is `par` wide.
    let dw = cw as f64 * par;
    let dh = ch as f64;
    let full_src = (0.0, 0.0, sw, sh);
    match fit {
        Fit::Stretch => ((0, 0, cw, ch), full_src),
        Fit::Fit => {
            let scale = (dw / sw).min(dh / sh);
            let w = ((sw * scale / par).round() as usize).clamp(1, cw);
            let h = ((sh * scale).round() as usize).clamp(1, ch);
            (((cw - w) / 2, (ch - h) / 2, w, h), full_src)
        }
        Fit::Fill => {
            let scale = (dw / sw).max(dh / sh);
            let vw = (dw / scale).min(sw);
            let vh = (dh / scale).min(sh);
            ((0, 0, cw, ch), ((sw - vw) / 2.0, (sh - vh) / 2.0, vw, vh))
        }
    }
}

/// The output frame a generated frame is fitted into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Canvas size in pixels.
    pub width: usize,
    pub height: usize,
    /// Width of a canvas pixel relative to its height.
    pub pixel_aspect: f64,
    pub fit: Fit,
    pub colour: Colour,
}

/// Renders `frame` (`src_w` x `src_h` interleaved RGB f32, top-down) onto the `target` canvas.
/// Outside the frame the canvas is opaque black.
pub fn render_canvas(
    frame: &[f32],
    src_w: usize,
    src_h: usize,
    target: &Target,
) -> Result<Canvas, String> {
    let Target {
        width: canvas_w,
        height: canvas_h,
        pixel_aspect: par,
        fit,
        colour,
    } = *target;
    if src_w == 0 || src_h == 0 || frame.len() != src_w * src_h * 3 {
        return Err(format!(
            "a {src_w}x{src_h} frame needs {} values, got {}",
            src_w * src_h * 3,
            frame.len()
        ));
    }
    if canvas_w == 0 || canvas_h == 0 || canvas_w > 65_536 || canvas_h > 65_536 {
        return Err(format!("output size {canvas_w}x{canvas_h} is not usable"));
    }
    let par = if par.is_finite() && par > 0.0 {
        par
    } else {
        1.0
    };
    let ((x0, y0, w, h), crop) = layout((src_w, src_h), (canvas_w, canvas_h), par, fit);

    let mut src_buf = frame.to_vec();
    let src = FirImage::from_slice_u8(
        src_w as u32,
        src_h as u32,
        bytemuck::cast_slice_mut(&mut src_buf),
        PixelType::F32x3,
    )
    .map_err(|e| format!("source frame: {e}"))?;
    let mut placed = vec![0.0f32; w * h * 3];
    {
        let mut dst = FirImage::from_slice_u8(
            w as u32,
            h as u32,
            bytemuck::cast_slice_mut(&mut placed),
            PixelType::F32x3,
        )
        .map_err(|e| format!("placed frame: {e}"))?;
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom))
            .crop(crop.0, crop.1, crop.2, crop.3);
        Resizer::new()
            .resize(&src, &mut dst, &options)
            .map_err(|e| format!("resampling: {e}"))?;
    }

    let mut rgba = vec![0.0f32; canvas_w * canvas_h * 4];
    for px in rgba.chunks_exact_mut(4) {
        px[3] = 1.0;
    }
    for row in 0..h {
        let src_row = &placed[row * w * 3..(row + 1) * w * 3];
        let start = ((y0 + row) * canvas_w + x0) * 4;
        let dst_row = &mut rgba[start..start + w * 4];
        for (d, s) in dst_row.chunks_exact_mut(4).zip(src_row.chunks_exact(3)) {
            for c in 0..3 {
                // NOTE: Catmull-Rom overshoots slightly at edges; keep values in [0, 1].
                let v = s[c].clamp(0.0, 1.0);
                d[c] = match colour {
                    Colour::Srgb => v,
                    Colour::Linear => srgb_to_linear(v),
                };
            }
        }
    }
    Ok(Canvas {
        width: canvas_w,
        height: canvas_h,
        rgba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(width: usize, height: usize, pixel_aspect: f64, fit: Fit, colour: Colour) -> Target {
        Target {
            width,
            height,
            pixel_aspect,
            fit,
            colour,
        }
    }

    fn solid(w: usize, h: usize, rgb: [f32; 3]) -> Vec<f32> {
        (0..w * h).flat_map(|_| rgb).collect()
    }

    #[test]
    fn fit_letterboxes_a_square_into_a_wide_frame() {
        let c = render_canvas(
            &solid(8, 8, [1.0, 0.5, 0.25]),
            8,
            8,
            &t(32, 16, 1.0, Fit::Fit, Colour::Srgb),
        )
        .expect("ok");
        // 16x16 in the middle: columns 8..24 coloured, the rest black.
        assert_eq!(&c.row(8)[..4], &[0.0, 0.0, 0.0, 1.0]);
        let mid = &c.row(8)[16 * 4..16 * 4 + 4];
        assert!(
            (mid[0] - 1.0).abs() < 1e-4 && (mid[1] - 0.5).abs() < 1e-4,
            "{mid:?}"
        );
        assert_eq!(&c.row(8)[31 * 4..], &[0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn fill_and_stretch_cover_everything() {
        for fit in [Fit::Fill, Fit::Stretch] {
            let c = render_canvas(
                &solid(8, 8, [0.2, 0.4, 0.6]),
                8,
                8,
                &t(30, 10, 1.0, fit, Colour::Srgb),
            )
            .expect("ok");
            assert!(
                c.rgba
                    .chunks_exact(4)
                    .all(|p| (p[0] - 0.2).abs() < 1e-4 && p[3] == 1.0),
                "{fit:?}"
            );
        }
    }

    #[test]
    fn fill_crops_the_middle() {
        // Left half red, right half blue, 8x4 into a square: fill keeps the centre columns.
        let mut f = Vec::new();
        for _y in 0..4 {
            for x in 0..8 {
                f.extend_from_slice(if x < 4 {
                    &[1.0, 0.0, 0.0]
                } else {
                    &[0.0, 0.0, 1.0]
                });
            }
        }
        let c = render_canvas(&f, 8, 4, &t(16, 16, 1.0, Fit::Fill, Colour::Srgb)).expect("ok");
        assert!(c.row(8)[0] > 0.9 && c.row(8)[15 * 4 + 2] > 0.9);
    }

    #[test]
    fn pixel_aspect_narrows_the_placed_frame() {
        // A square frame on a 2:1-pixel-aspect canvas of 16x16 pixels (32x16 display): the frame
        // takes 16 display units = 8 pixels.
        let c = render_canvas(
            &solid(4, 4, [1.0, 1.0, 1.0]),
            4,
            4,
            &t(16, 16, 2.0, Fit::Fit, Colour::Srgb),
        )
        .expect("ok");
        let lit = c.row(8).chunks_exact(4).filter(|p| p[0] > 0.5).count();
        assert_eq!(lit, 8);
    }

    #[test]
    fn linear_output_applies_the_srgb_curve() {
        let c = render_canvas(
            &solid(2, 2, [0.5, 0.5, 0.5]),
            2,
            2,
            &t(2, 2, 1.0, Fit::Stretch, Colour::Linear),
        )
        .expect("ok");
        assert!((c.rgba[0] - 0.2140).abs() < 1e-3, "{}", c.rgba[0]);
    }

    #[test]
    fn the_srgb_curves_invert_each_other() {
        for i in 0..=100 {
            let v = i as f32 / 100.0;
            assert!((linear_to_srgb(srgb_to_linear(v)) - v).abs() < 1e-5, "{v}");
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(render_canvas(&[0.0; 5], 2, 2, &t(4, 4, 1.0, Fit::Fit, Colour::Srgb)).is_err());
        assert!(
            render_canvas(
                &solid(2, 2, [0.0; 3]),
                2,
                2,
                &t(0, 4, 1.0, Fit::Fit, Colour::Srgb)
            )
            .is_err()
        );
    }
}
