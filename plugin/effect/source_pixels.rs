//! Video to Video's Source pixels: host images as the engine's 8-bit sRGB frames, their
//! hashes (what the clip's key holds), and fitting them to the model's size.

use promptreel_engine::image::{self as engine_image, ImageFit, RgbImage};
use sha2::{Digest, Sha256};

use crate::ofx::{Image, PixelDepth};
use crate::resample::{Colour, Fit, linear_to_srgb};

/// Domain separators of the Source hashes.
const FRAME_DOMAIN: &[u8] = b"promptreel.source-frame";
const SOURCE_DOMAIN: &[u8] = b"promptreel.source";

/// The hash of one frame: its size and 8-bit pixels.
pub fn frame_hash(img: &RgbImage) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((FRAME_DOMAIN.len() as u64).to_le_bytes());
    h.update(FRAME_DOMAIN);
    h.update(u64::from(img.width).to_le_bytes());
    h.update(u64::from(img.height).to_le_bytes());
    h.update(&img.data);
    h.finalize().into()
}

/// The hash of the Source as used: its frames' hashes in order, as hex.
pub fn source_hash(frames: &[[u8; 32]]) -> String {
    let mut h = Sha256::new();
    h.update((SOURCE_DOMAIN.len() as u64).to_le_bytes());
    h.update(SOURCE_DOMAIN);
    h.update((frames.len() as u64).to_le_bytes());
    for f in frames {
        h.update(f);
    }
    let digest: [u8; 32] = h.finalize().into();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An 8-bit display value from a sample in [0, 1] (NaN is 0).
pub fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// A host image as 8-bit sRGB RGB, rows top to bottom (the engine's layout); alpha is
/// ignored (premultiplied colour is used as it is), an alpha-only image is grey.
pub fn to_rgb(image: &Image, colour: Colour) -> Result<RgbImage, String> {
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err("the host gave an empty image".into());
    }
    let mut data = Vec::with_capacity(w * h * 3);
    for y in (image.bounds[1]..image.bounds[3]).rev() {
        let row = image
            .row(y)
            .ok_or_else(|| format!("row {y} is outside the image"))?;
        push_row(row, image.depth, image.components, colour, &mut data);
    }
    let (w, h) = (
        u32::try_from(w).map_err(|_| "the image is too wide")?,
        u32::try_from(h).map_err(|_| "the image is too tall")?,
    );
    RgbImage::new(w, h, data).map_err(|e| e.to_string())
}

/// Appends one row of host pixels as 8-bit sRGB RGB.
pub fn push_row(
    row: &[u8],
    depth: PixelDepth,
    components: usize,
    colour: Colour,
    out: &mut Vec<u8>,
) {
    let bytes = depth.bytes();
    let pixel = (components * bytes).max(1);
    if depth == PixelDepth::Byte && colour == Colour::Srgb && components >= 3 {
        for px in row.chunks_exact(pixel) {
            out.extend_from_slice(&px[..3]);
        }
        return;
    }
    let sample = |s: &[u8]| -> f32 {
        match depth {
            PixelDepth::Byte => f32::from(s[0]) / 255.0,
            PixelDepth::Short => f32::from(u16::from_ne_bytes([s[0], s[1]])) / 65535.0,
            PixelDepth::Float => f32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
        }
    };
    let encode = |v: f32| match colour {
        Colour::Srgb => to_byte(v),
        Colour::Linear => to_byte(linear_to_srgb(v.clamp(0.0, 1.0))),
    };
    for px in row.chunks_exact(pixel) {
        let mut samples = px.chunks_exact(bytes).map(sample);
        if components >= 3 {
            for v in samples.by_ref().take(3) {
                out.push(encode(v));
            }
        } else {
            let grey = encode(samples.next().unwrap_or(0.0));
            out.extend_from_slice(&[grey, grey, grey]);
        }
    }
}

/// `img` (pixels `pixel_aspect` wide) fitted to `width` x `height` square pixels: Fit
/// letterboxes (black bars), Fill covers and crops the middle (diffusers' "crop"), Stretch
/// scales each side (diffusers' "default"), with the engine's Pillow-exact Lanczos resampling.
pub fn fit_to_model(
    img: &RgbImage,
    width: u32,
    height: u32,
    fit: Fit,
    pixel_aspect: f64,
) -> RgbImage {
    let (width, height) = (width.max(1), height.max(1));
    let square;
    let img = if pixel_aspect.is_finite() && pixel_aspect > 0.0 && (pixel_aspect - 1.0).abs() > 1e-6
    {
        let w = (f64::from(img.width) * pixel_aspect)
            .round()
            .clamp(1.0, 16384.0) as u32;
        square = engine_image::fit(img, w, img.height, ImageFit::Stretch);
        &square
    } else {
        img
    };
    match fit {
        Fit::Stretch => engine_image::fit(img, width, height, ImageFit::Stretch),
        Fit::Fill => engine_image::fit(img, width, height, ImageFit::Crop),
        Fit::Fit => {
            let scale = (f64::from(width) / f64::from(img.width))
                .min(f64::from(height) / f64::from(img.height));
            let iw = ((f64::from(img.width) * scale).round() as u32).clamp(1, width);
            let ih = ((f64::from(img.height) * scale).round() as u32).clamp(1, height);
            let inner = engine_image::fit(img, iw, ih, ImageFit::Stretch);
            if (iw, ih) == (width, height) {
                return inner;
            }
            let (x0, y0) = (((width - iw) / 2) as usize, ((height - ih) / 2) as usize);
            let (w, iw) = (width as usize, iw as usize);
            let mut data = vec![0u8; w * height as usize * 3];
            for (r, src) in inner.data.chunks_exact(iw * 3).enumerate() {
                let start = ((y0 + r) * w + x0) * 3;
                if let Some(dst) = data.get_mut(start..start + iw * 3) {
                    dst.copy_from_slice(src);
                }
            }
            RgbImage {
                width,
                height,
                data,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        let mut bytes = Vec::new();
        for y in 0..h {
            for x in 0..w {
                bytes.extend_from_slice(&f(x, y));
            }
        }
        RgbImage::new(w, h, bytes).expect("image")
    }

    #[test]
    fn fitting_letterboxes_crops_or_stretches_to_the_model_size() {
        let wide = image(
            64,
            32,
            |x, _| if x < 32 { [255, 0, 0] } else { [0, 0, 255] },
        );
        // Fit: 32x16 in the middle of 32x32, black bars above and below.
        let fitted = fit_to_model(&wide, 32, 32, Fit::Fit, 1.0);
        assert_eq!(
            (fitted.width, fitted.height, fitted.data.len()),
            (32, 32, 32 * 32 * 3)
        );
        let px = |img: &RgbImage, x: u32, y: u32| {
            let i = ((y * img.width + x) * 3) as usize;
            [img.data[i], img.data[i + 1], img.data[i + 2]]
        };
        assert_eq!(px(&fitted, 16, 2), [0, 0, 0]);
        assert_eq!(px(&fitted, 2, 16), [255, 0, 0]);
        assert_eq!(px(&fitted, 30, 16), [0, 0, 255]);
        // Fill: the middle 32x32, half red, half blue, no bars.
        let filled = fit_to_model(&wide, 32, 32, Fit::Fill, 1.0);
        assert_eq!(px(&filled, 16, 2)[1], 0);
        assert!(px(&filled, 2, 2)[0] > 200 && px(&filled, 30, 2)[2] > 200);
        // Stretch: the engine's stretch exactly.
        assert_eq!(
            fit_to_model(&wide, 32, 32, Fit::Stretch, 1.0),
            engine_image::fit(&wide, 32, 32, ImageFit::Stretch)
        );
        // Same size: untouched, in every mode.
        for fit in [Fit::Fit, Fit::Fill, Fit::Stretch] {
            assert_eq!(fit_to_model(&wide, 64, 32, fit, 1.0), wide);
        }
        // Pixels twice as wide: a 32x32 frame shows as 64x32, so Fit gives bars.
        let anamorphic = image(32, 32, |_, _| [200, 200, 200]);
        let fitted = fit_to_model(&anamorphic, 32, 32, Fit::Fit, 2.0);
        assert_eq!(px(&fitted, 16, 2), [0, 0, 0]);
        assert_eq!(px(&fitted, 16, 16), [200, 200, 200]);
        // Odd sizes do not panic.
        let one = image(1, 1, |_, _| [9, 9, 9]);
        for fit in [Fit::Fit, Fit::Fill, Fit::Stretch] {
            assert_eq!(fit_to_model(&one, 7, 3, fit, 1.0).data.len(), 7 * 3 * 3);
            assert_eq!(fit_to_model(&wide, 0, 0, fit, 0.0).data.len(), 3);
        }
    }

    #[test]
    fn host_rows_become_8_bit_srgb() {
        let mut out = Vec::new();
        let floats: Vec<u8> = [0.5f32, 1.5, -1.0, 0.25]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        push_row(&floats, PixelDepth::Float, 4, Colour::Srgb, &mut out);
        assert_eq!(out, vec![128, 255, 0]);
        out.clear();
        push_row(&floats, PixelDepth::Float, 4, Colour::Linear, &mut out);
        assert_eq!(out, vec![to_byte(linear_to_srgb(0.5)), 255, 0]);
        out.clear();
        let shorts: Vec<u8> = [65535u16, 0, 32768]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        push_row(&shorts, PixelDepth::Short, 3, Colour::Srgb, &mut out);
        assert_eq!(out, vec![255, 0, 128]);
        out.clear();
        push_row(
            &[1, 2, 3, 4, 5, 6, 7, 8],
            PixelDepth::Byte,
            4,
            Colour::Srgb,
            &mut out,
        );
        assert_eq!(out, vec![1, 2, 3, 5, 6, 7]);
        out.clear();
        push_row(&[51], PixelDepth::Byte, 1, Colour::Srgb, &mut out);
        assert_eq!(out, vec![51, 51, 51]);
        out.clear();
        // A short row is cut at the last whole pixel, never read past.
        push_row(
            &[1, 2, 3, 4, 5],
            PixelDepth::Byte,
            4,
            Colour::Srgb,
            &mut out,
        );
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn the_source_hash_covers_pixels_size_and_order() {
        let a = image(4, 2, |x, y| [x as u8, y as u8, 7]);
        let b = image(2, 4, |x, y| [x as u8, y as u8, 7]);
        let mut c = a.clone();
        c.data[5] ^= 1;
        let (ha, hb, hc) = (frame_hash(&a), frame_hash(&b), frame_hash(&c));
        assert_eq!(ha, frame_hash(&a.clone()));
        assert_ne!(ha, hb, "the size counts");
        assert_ne!(ha, hc, "every pixel counts");
        assert_ne!(
            source_hash(&[ha, hc]),
            source_hash(&[hc, ha]),
            "the order counts"
        );
        assert_ne!(source_hash(&[ha]), source_hash(&[ha, ha]));
        assert_eq!(source_hash(&[ha, hc]).len(), 64);
    }
}
