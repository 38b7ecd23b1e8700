//! Conditioning images (the first frame of an image-to-video clip), prepared exactly the way
//! diffusers' `VaeImageProcessor` prepares a PIL image, so the engine's inputs match
//! `LTXImageToVideoPipeline`'s:
//!
//! * [`RgbImage::read_png`] reads what `Image.open(path).convert("RGB")` gives for the PNGs that
//!   make sense as a colour first frame, and refuses the others with a sentence saying what to do.
//! * [`fit`] resizes like `VaeImageProcessor.resize`: resize_mode "default" ([`ImageFit::Stretch`],
//!   a plain Pillow `Image.resize(.., LANCZOS)`) or "crop" ([`ImageFit::Crop`],
//!   `_resize_and_crop`). The Lanczos resampler reproduces Pillow's 8-bit fixed-point one bit
//!   for bit (checked against Pillow's own output in `tests/image.rs`).
//! * [`to_model_input`] scales to [-1, 1] planar float32 like `VaeImageProcessor.preprocess`.

use std::f64::consts::PI;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// The largest side accepted, in pixels: far beyond any clip, small enough to decode safely.
const MAX_SIDE: u32 = 16384;

/// An 8-bit RGB image, rows top to bottom, RGBRGB...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// An image from `width * height * 3` bytes (RGB, rows top to bottom).
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::setting(format!(
                "an image of {width}x{height} pixels has no pixels; give both sides at least 1"
            )));
        }
        let expected = width as u64 * height as u64 * 3;
        if data.len() as u64 != expected {
            return Err(Error::setting(format!(
                "a {width}x{height} RGB image needs {expected} bytes (3 per pixel), got {}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Reads a PNG as Pillow's `Image.open(path).convert("RGB")` does: 8-bit RGB as is, 16-bit
    /// RGB by each sample's high byte, palette images through their palette, and RGBA (or a
    /// palette or RGB image with a tRNS chunk) only when every pixel is opaque. Grayscale,
    /// translucent, oversized and unreadable files are refused with a sentence naming the file
    /// and the fix.
    pub fn read_png(path: &Path) -> Result<Self> {
        let shown = path.display();
        let mut file = File::open(path).map_err(|e| open_error(path, e))?;

        // Tell "not a PNG at all" apart from "a damaged PNG" for the message.
        let mut signature = [0u8; 8];
        let got = read_up_to(&mut file, &mut signature).map_err(|e| open_error(path, e))?;
        if signature[..got] != PNG_SIGNATURE[..] {
            return Err(Error::setting(format!(
                "the conditioning image {shown} is not a PNG file; save the image as a PNG \
                 (8-bit RGB) and pass that file"
            )));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| open_error(path, e))?;
        let damaged = |e: png::DecodingError| {
            Error::setting(format!(
                "the conditioning image {shown} is a damaged or unsupported PNG ({e}); open it \
                 in an image editor and save it again as an 8-bit RGB PNG"
            ))
            .with_cause(e)
        };

        let mut decoder = png::Decoder::new(BufReader::new(file));
        // EXPAND: palettes to RGB (RGBA when a tRNS chunk is present), tRNS colour keys to an
        // alpha channel. STRIP_16: 16-bit samples keep their high (first, big-endian) byte,
        // which is what Pillow does when it opens 16-bit RGB as mode "RGB".
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        // The header alone first: refuse absurd sizes and grayscale before reading further.
        let info = decoder.read_header_info().map_err(damaged)?;
        let (width, height) = (info.width, info.height);
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(Error::setting(format!(
                "the conditioning image {shown} is {width}x{height} pixels; Promptreel reads \
                 images from 1 to {MAX_SIDE} pixels a side: scale it to about the clip's size \
                 and save it again"
            )));
        }
        if matches!(
            info.color_type,
            png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha
        ) {
            return Err(Error::setting(format!(
                "the conditioning image {shown} is grayscale; the model needs a colour image: \
                 save it as RGB (for example, convert the mode to RGB in an image editor)"
            )));
        }
        let mut reader = decoder.read_info().map_err(damaged)?;

        let (color, depth) = reader.output_color_type();
        let channels = match (color, depth) {
            (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
            (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
            (color, depth) => {
                return Err(Error::setting(format!(
                    "the conditioning image {shown} decodes to {color:?} at {depth:?} bits, \
                     which Promptreel does not read; save it again as an 8-bit RGB PNG"
                )));
            }
        };
        let size = reader.output_buffer_size().ok_or_else(|| {
            Error::setting(format!(
                "the conditioning image {shown} is too large to decode; scale it down and save \
                 it again"
            ))
        })?;
        let mut buf = vec![0u8; size];
        let frame = reader.next_frame(&mut buf).map_err(damaged)?;

        let (w, h) = (width as usize, height as usize);
        let line = frame.line_size;
        if frame.width != width || frame.height != height || line < w * channels {
            return Err(Error::setting(format!(
                "the conditioning image {shown} has a first frame of another size than the \
                 image; save it again as a single-frame 8-bit RGB PNG"
            )));
        }
        let mut data = Vec::with_capacity(w * h * 3);
        for row in buf.chunks(line).take(h) {
            let Some(row) = row.get(..w * channels) else {
                return Err(damaged(png::DecodingError::IoError(
                    std::io::ErrorKind::UnexpectedEof.into(),
                )));
            };
            if channels == 3 {
                data.extend_from_slice(row);
                continue;
            }
            for px in row.chunks_exact(4) {
                // Pillow would drop the alpha channel silently and show whatever colour hides
                // under transparent pixels; refuse instead, the result would be surprising.
                if px[3] != 255 {
                    return Err(Error::setting(format!(
                        "the conditioning image {shown} has transparent pixels; flatten it onto \
                         a background colour and save it as RGB without alpha"
                    )));
                }
                data.extend_from_slice(&px[..3]);
            }
        }
        if data.len() != w * h * 3 {
            return Err(damaged(png::DecodingError::IoError(
                std::io::ErrorKind::UnexpectedEof.into(),
            )));
        }
        Self::new(width, height, data)
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Reads as many bytes as the file has, up to `buf.len()`.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn open_error(path: &Path, e: std::io::Error) -> Error {
    let shown = path.display();
    let message = if e.kind() == std::io::ErrorKind::NotFound {
        format!("the conditioning image {shown} does not exist; check the path and the file name")
    } else {
        format!(
            "could not read the conditioning image {shown} ({e}); check that it is a readable \
             file, not a folder"
        )
    };
    Error::new(ErrorKind::Io, message).with_cause(e)
}

/// How an image of another shape is fitted to the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageFit {
    /// Scale to cover the clip keeping the aspect ratio, then cut the overflow off both sides
    /// equally (diffusers' resize_mode "crop").
    #[default]
    Crop,
    /// Scale each axis to the clip's size, distorting the aspect ratio (diffusers' resize_mode
    /// "default", what `LTXImageToVideoPipeline` does).
    Stretch,
}

impl ImageFit {
    /// "crop" or "stretch" (any letter case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "crop" => Ok(Self::Crop),
            "stretch" => Ok(Self::Stretch),
            _ => Err(Error::setting(format!(
                "unknown image fit {s:?}; use \"crop\" (keep the aspect ratio, cut the edges) \
                 or \"stretch\" (scale each side to the clip)"
            ))),
        }
    }

    /// The name [`ImageFit::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crop => "crop",
            Self::Stretch => "stretch",
        }
    }
}

/// The image resized to `width` x `height`, as diffusers' `VaeImageProcessor.resize` does with
/// resize_mode "crop" ([`ImageFit::Crop`]) or "default" ([`ImageFit::Stretch`]) and Lanczos
/// resampling. A zero `width` or `height` gives an image with no pixels.
///
/// # Panics
///
/// When `img.data` does not hold `img.width * img.height * 3` bytes (build images with
/// [`RgbImage::new`] or [`RgbImage::read_png`]).
pub fn fit(img: &RgbImage, width: u32, height: u32, fit: ImageFit) -> RgbImage {
    assert!(
        img.width > 0
            && img.height > 0
            && img.data.len() as u64 == img.width as u64 * img.height as u64 * 3,
        "RgbImage {}x{} holds {} bytes; build it with RgbImage::new",
        img.width,
        img.height,
        img.data.len()
    );
    if width == 0 || height == 0 {
        return RgbImage {
            width,
            height,
            data: Vec::new(),
        };
    }
    match fit {
        ImageFit::Stretch => {
            resize_window(img, (width as u64, height as u64), (0, 0), (width, height))
        }
        ImageFit::Crop => {
            let (full, offset) = crop_plan(img.width, img.height, width, height);
            resize_window(img, full, offset, (width, height))
        }
    }
}

/// `_resize_and_crop`'s arithmetic: the size the image is resized to (covering the target,
/// aspect kept, rounded down by integer division) and the top-left corner of the target inside
/// it.
fn crop_plan(src_w: u32, src_h: u32, width: u32, height: u32) -> ((u64, u64), (u64, u64)) {
    let (src_w, src_h, width, height) = (src_w as u64, src_h as u64, width as u64, height as u64);
    // diffusers compares the two ratios as Python floats; f64 division is the same IEEE
    // operation, so the comparison (ties included) comes out the same.
    let ratio = width as f64 / height as f64;
    let src_ratio = src_w as f64 / src_h as f64;
    let full = if ratio > src_ratio {
        // Wider target: match the width, the height overflows (floor division as in Python).
        (width, src_h * width / src_w)
    } else {
        (src_w * height / src_h, height)
    };
    // The resize always covers the target; `max` only guards sides near u32::MAX, where two
    // different ratios could round to the same f64 (sizes no image reaches).
    let full = (full.0.max(width), full.1.max(height));
    // diffusers pastes the resized image at (width // 2 - full_w // 2, ...), an offset of zero
    // or less, so the target starts at the negated offset inside it.
    let offset = (full.0 / 2 - width / 2, full.1 / 2 - height / 2);
    (full, offset)
}

/// Pillow's fixed-point precision for 8-bit images: 32 bits less 8 for the sample and 2 of
/// headroom for the filter's overshoot.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Lanczos with a = 3, Pillow's `LANCZOS` filter: zero outside [-3, 3).
fn lanczos(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// sin(pi x) / (pi x), evaluated as Pillow does (multiply by pi first, then divide).
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * PI;
        x.sin() / x
    }
}

/// One output sample's filter: the first input index and the fixed-point weights.
struct Tap {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's per-output filter windows for resizing an axis of `in_size` samples to `out_size`,
/// for the outputs `first..first + count` only (each output's window depends on nothing else,
/// so a window of the result equals the same window of a full resize).
fn taps(in_size: u32, out_size: u64, first: u64, count: u32) -> Vec<Tap> {
    let scale = in_size as f64 / out_size as f64;
    // Downscaling widens the filter by the scale so every input sample contributes.
    let filter_scale = scale.max(1.0);
    let support = 3.0 * filter_scale;
    let inv = 1.0 / filter_scale;
    (first..first + count as u64)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // Pillow rounds the window's ends by adding 0.5 and truncating toward zero (a C
            // int cast, same as `as`), then clamps to the image.
            let lo = ((center - support + 0.5) as i64).max(0);
            let hi = ((center + support + 0.5) as i64).min(in_size as i64);
            let raw: Vec<f64> = (lo..hi.max(lo))
                .map(|x| lanczos(((x as f64 - center) + 0.5) * inv))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    // Normalised weights to fixed point, rounding half away from zero.
                    let fixed = w * (1u32 << PRECISION_BITS) as f64;
                    if w < 0.0 {
                        (fixed - 0.5) as i32
                    } else {
                        (fixed + 0.5) as i32
                    }
                })
                .collect();
            Tap {
                start: lo as usize,
                weights,
            }
        })
        .collect()
}

/// A fixed-point sum back to 8 bits: Pillow starts sums at half a unit (so the shift rounds)
/// and clips to 0..=255.
fn to_u8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i64 = 1 << (PRECISION_BITS - 1);

/// A plain 8-bit RGB buffer for the passes (an intermediate may have any size).
struct Plane<'a> {
    width: usize,
    height: usize,
    data: std::borrow::Cow<'a, [u8]>,
}

impl Plane<'_> {
    /// The columns `x0..x0 + w` and rows `y0..y0 + h`, borrowed when that is everything.
    fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Plane<'_> {
        if (x0, y0, w, h) == (0, 0, self.width, self.height) {
            return Plane {
                width: w,
                height: h,
                data: std::borrow::Cow::Borrowed(&self.data),
            };
        }
        let mut data = Vec::with_capacity(w * h * 3);
        for y in y0..y0 + h {
            let start = (y * self.width + x0) * 3;
            data.extend_from_slice(&self.data[start..start + w * 3]);
        }
        Plane {
            width: w,
            height: h,
            data: data.into(),
        }
    }

    /// Horizontal pass: every row through `taps`, whose input columns start `shift` earlier
    /// than in this plane.
    fn horizontal(&self, taps: &[Tap], shift: usize) -> Plane<'static> {
        let out_w = taps.len();
        let mut data = vec![0u8; self.height * out_w * 3];
        for (in_row, out_row) in self
            .data
            .chunks_exact(self.width * 3)
            .zip(data.chunks_exact_mut(out_w * 3))
        {
            for (tap, out) in taps.iter().zip(out_row.chunks_exact_mut(3)) {
                let mut sum = [HALF; 3];
                let first = (tap.start - shift) * 3;
                let window = &in_row[first..first + tap.weights.len() * 3];
                for (px, &w) in window.chunks_exact(3).zip(&tap.weights) {
                    for c in 0..3 {
                        sum[c] += px[c] as i64 * w as i64;
                    }
                }
                for c in 0..3 {
                    out[c] = to_u8(sum[c]);
                }
            }
        }
        Plane {
            width: out_w,
            height: self.height,
            data: data.into(),
        }
    }

    /// Vertical pass: every column through `taps`, whose input rows start `shift` earlier than
    /// in this plane.
    fn vertical(&self, taps: &[Tap], shift: usize) -> Plane<'static> {
        let stride = self.width * 3;
        let mut data = vec![0u8; taps.len() * stride];
        let mut sum = vec![0i64; stride];
        for (tap, out_row) in taps.iter().zip(data.chunks_exact_mut(stride)) {
            sum.fill(HALF);
            for (k, &w) in tap.weights.iter().enumerate() {
                let y = tap.start - shift + k;
                for (s, &v) in sum.iter_mut().zip(&self.data[y * stride..(y + 1) * stride]) {
                    *s += v as i64 * w as i64;
                }
            }
            for (o, &s) in out_row.iter_mut().zip(&sum) {
                *o = to_u8(s);
            }
        }
        Plane {
            width: self.width,
            height: taps.len(),
            data: data.into(),
        }
    }
}

/// The input range `[first, last)` that a set of filters reads.
fn span(taps: &[Tap]) -> (usize, usize) {
    let first = taps.iter().map(|t| t.start).min().unwrap_or(0);
    let last = taps
        .iter()
        .map(|t| t.start + t.weights.len())
        .max()
        .unwrap_or(first);
    (first, last)
}

/// The window at `offset` of size `size` of Pillow's Lanczos resize of `img` to `full`.
///
/// Pillow resizes in two separable passes through an 8-bit intermediate image, skipping the
/// pass of an axis that keeps its size. Since Pillow 13 the order depends on the sizes: the
/// vertical pass runs first when the height shrinks by more than twice as many pixels as the
/// width does (`in_h - out_h > 2 * (in_w - out_w)`, height shrinking), otherwise the
/// horizontal pass does. The order changes the result (the intermediate is rounded to 8 bits),
/// so it is followed exactly. Each pass only computes what the window needs.
fn resize_window(
    img: &RgbImage,
    full: (u64, u64),
    offset: (u64, u64),
    size: (u32, u32),
) -> RgbImage {
    let src = Plane {
        width: img.width as usize,
        height: img.height as usize,
        data: std::borrow::Cow::Borrowed(&img.data),
    };
    let (x0, y0) = (offset.0 as usize, offset.1 as usize);
    let (out_w, out_h) = (size.0 as usize, size.1 as usize);
    let h_taps = (full.0 != img.width as u64).then(|| taps(img.width, full.0, offset.0, size.0));
    let v_taps = (full.1 != img.height as u64).then(|| taps(img.height, full.1, offset.1, size.1));

    let out = match (h_taps, v_taps) {
        (None, None) => src.crop(x0, y0, out_w, out_h).data.into_owned(),
        (Some(h), None) => src
            .crop(0, y0, src.width, out_h)
            .horizontal(&h, 0)
            .data
            .into_owned(),
        (None, Some(v)) => src
            .crop(x0, 0, out_w, src.height)
            .vertical(&v, 0)
            .data
            .into_owned(),
        (Some(h), Some(v)) => {
            let shrink_h = img.height as i128 - full.1 as i128;
            let shrink_w = img.width as i128 - full.0 as i128;
            if shrink_h > 0 && shrink_h > 2 * shrink_w {
                // Vertical first, over the columns the horizontal filters read.
                let (c0, c1) = span(&h);
                let mid = src.crop(c0, 0, c1 - c0, src.height).vertical(&v, 0);
                mid.horizontal(&h, c0).data.into_owned()
            } else {
                // Horizontal first, over the rows the vertical filters read.
                let (r0, r1) = span(&v);
                let mid = src.crop(0, r0, src.width, r1 - r0).horizontal(&h, 0);
                mid.vertical(&v, r0).data.into_owned()
            }
        }
    };
    debug_assert_eq!(out.len(), out_w * out_h * 3);
    RgbImage {
        width: size.0,
        height: size.1,
        data: out,
    }
}

/// `[3, H, W]` planar float32 in [-1, 1], as `VaeImageProcessor.preprocess` computes it: each
/// byte `x` becomes `x as f32 / 255.0`, then `2.0 * v - 1.0` (both in float32, as numpy and
/// torch do).
pub fn to_model_input(img: &RgbImage) -> Vec<f32> {
    let plane = img.width as usize * img.height as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in img.data.chunks_exact(3).take(plane).enumerate() {
        for c in 0..3 {
            let v = px[c] as f32 / 255.0;
            out[c * plane + i] = 2.0 * v - 1.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage::new(w, h, rgb.repeat((w * h) as usize)).unwrap()
    }

    #[test]
    fn new_checks_sizes() {
        assert!(RgbImage::new(2, 2, vec![0; 12]).is_ok());
        assert!(RgbImage::new(2, 2, vec![0; 11]).is_err());
        assert!(RgbImage::new(0, 2, vec![]).is_err());
        assert!(RgbImage::new(2, 0, vec![]).is_err());
    }

    #[test]
    fn fit_names_round_trip() {
        for f in [ImageFit::Crop, ImageFit::Stretch] {
            assert_eq!(ImageFit::parse(f.as_str()).unwrap(), f);
        }
        assert_eq!(ImageFit::parse(" Stretch ").unwrap(), ImageFit::Stretch);
        assert_eq!(ImageFit::default(), ImageFit::Crop);
        let e = ImageFit::parse("fill").unwrap_err().to_string();
        assert!(
            e.contains("\"fill\"") && e.contains("crop") && e.contains("stretch"),
            "{e}"
        );
    }

    #[test]
    fn one_pixel_images_scale_to_solid_images() {
        // A single input sample gets the whole (normalised) weight: the colour is kept exactly.
        let px = solid(1, 1, [7, 128, 255]);
        for (w, h) in [(1, 1), (5, 3), (1, 9), (64, 1)] {
            for f in [ImageFit::Crop, ImageFit::Stretch] {
                let out = fit(&px, w, h, f);
                assert_eq!(out, solid(w, h, [7, 128, 255]), "{w}x{h} {f:?}");
            }
        }
    }

    #[test]
    fn solid_images_stay_solid() {
        // Weights sum to 1 in fixed point up to rounding; the +half start absorbs it.
        let img = solid(13, 7, [0, 200, 255]);
        for (w, h) in [(1, 1), (1, 7), (13, 1), (40, 3), (2, 29), (4, 2)] {
            for f in [ImageFit::Crop, ImageFit::Stretch] {
                assert_eq!(
                    fit(&img, w, h, f),
                    solid(w, h, [0, 200, 255]),
                    "{w}x{h} {f:?}"
                );
            }
        }
    }

    #[test]
    fn same_size_is_a_copy() {
        let img = RgbImage::new(2, 1, vec![1, 2, 3, 250, 251, 252]).unwrap();
        assert_eq!(fit(&img, 2, 1, ImageFit::Stretch), img);
        assert_eq!(fit(&img, 2, 1, ImageFit::Crop), img);
    }

    #[test]
    fn zero_target_gives_no_pixels() {
        let out = fit(&solid(3, 3, [1, 2, 3]), 0, 4, ImageFit::Crop);
        assert_eq!((out.width, out.height, out.data.len()), (0, 4, 0));
    }

    #[test]
    fn one_pixel_wide_target_averages_its_row() {
        // 2x1 black/white to 1x1: the window is symmetric, each side gets half the weight;
        // 255 * 2^21 + 2^21 >> 22 = 128.
        let img = RgbImage::new(2, 1, vec![0, 0, 0, 255, 255, 255]).unwrap();
        assert_eq!(fit(&img, 1, 1, ImageFit::Stretch).data, vec![128, 128, 128]);
    }

    #[test]
    fn crop_plan_follows_diffusers_arithmetic() {
        // 37x23 into 32x32: taller target, resize to 37*32//23 = 51 x 32, x offset 25 - 16.
        assert_eq!(crop_plan(37, 23, 32, 32), ((51, 32), (9, 0)));
        // 64x48 into 30x10: wider target, 30 x 48*30//64 = 22, y offset 11 - 5.
        assert_eq!(crop_plan(64, 48, 30, 10), ((30, 22), (0, 6)));
        // Same aspect: the resize is exactly the target, no crop.
        assert_eq!(crop_plan(64, 48, 16, 12), ((16, 12), (0, 0)));
    }

    #[test]
    fn weights_are_normalised() {
        for (n, m) in [(10, 3), (3, 10), (37, 12), (1, 5), (5, 1)] {
            for tap in taps(n, m as u64, 0, m) {
                let s: i64 = tap.weights.iter().map(|&w| w as i64).sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= tap.weights.len() as i64,
                    "{s}"
                );
                assert!(tap.start + tap.weights.len() <= n as usize);
            }
        }
    }

    #[test]
    fn model_input_is_planar_in_minus_one_to_one() {
        let img = RgbImage::new(2, 1, vec![0, 255, 51, 102, 153, 204]).unwrap();
        let v = to_model_input(&img);
        let expect = |x: u8| 2.0 * (x as f32 / 255.0) - 1.0;
        assert_eq!(
            v,
            vec![-1.0, expect(102), 1.0, expect(153), expect(51), expect(204)]
        );
    }
}
