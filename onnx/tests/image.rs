//! Parity with Pillow and diffusers for conditioning images: replays the references written by
//! `tools/make_image_refs.py` (fixtures in `tests/data/image/`) through
//! `promptreel_engine::image`.
//!
//! * `fit` must equal diffusers' `VaeImageProcessor.resize` (Pillow's Lanczos) bit for bit.
//! * `read_png` must equal `Image.open(p).convert("RGB")` on the accepted PNGs, and refuse the
//!   others with a sentence naming the file and the fix, without panicking.
//! * `fit` + `to_model_input` must equal `VaeImageProcessor.preprocess`.

use std::path::{Path, PathBuf};

use promptreel_engine::image::{self, ImageFit, RgbImage};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/image")
}

/// A C-ordered uint8 `.npy` array: (shape, bytes).
fn read_u8_npy(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    assert_eq!(bytes[6], 1, "{}: .npy version 1 expected", path.display());
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'|u1'"),
        "{}: uint8 expected: {header}",
        path.display()
    );
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = &header[header.find("'shape': (").unwrap() + 10..];
    let shape: Vec<usize> = shape_text[..shape_text.find(')').unwrap()]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data = bytes[10 + header_len..].to_vec();
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>(),
        "{}",
        path.display()
    );
    (shape, data)
}

fn read_rgb_npy(path: &Path) -> RgbImage {
    let (shape, data) = read_u8_npy(path);
    assert_eq!(shape.len(), 3);
    assert_eq!(shape[2], 3);
    RgbImage::new(shape[1] as u32, shape[0] as u32, data).unwrap()
}

fn source(name: &str) -> RgbImage {
    source_in(&data_dir(), name)
}

fn source_in(dir: &Path, name: &str) -> RgbImage {
    RgbImage::read_png(&dir.join(format!("{name}.png")))
        .unwrap_or_else(|e| panic!("{name}.png: {e}"))
}

/// The resize references in `dir`: (file name, source, fit, width, height).
fn resize_cases(dir: &Path) -> Vec<(String, String, ImageFit, u32, u32)> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".npy") else {
            continue;
        };
        let parts: Vec<&str> = stem.split("__").collect();
        let [src, fit, size] = parts[..] else {
            continue;
        };
        if src == "preprocess" {
            continue;
        }
        let (w, h) = size.split_once('x').unwrap();
        cases.push((
            name.clone(),
            src.to_string(),
            ImageFit::parse(fit).unwrap(),
            w.parse().unwrap(),
            h.parse().unwrap(),
        ));
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// Every resize reference in `dir` against our `fit`; returns how many were checked.
fn check_resizes(dir: &Path) -> usize {
    let cases = resize_cases(dir);
    let mut failures = Vec::new();
    for (file, src, fit, w, h) in &cases {
        let expected = read_rgb_npy(&dir.join(file));
        let ours = image::fit(&source_in(dir, src), *w, *h, *fit);
        assert_eq!(
            (ours.width, ours.height),
            (expected.width, expected.height),
            "{file}"
        );
        let differing = ours
            .data
            .iter()
            .zip(&expected.data)
            .filter(|(a, b)| a != b)
            .count();
        if differing > 0 {
            let max = ours
                .data
                .iter()
                .zip(&expected.data)
                .map(|(&a, &b)| (a as i32 - b as i32).abs())
                .max()
                .unwrap();
            failures.push(format!("{file}: {differing} values differ, by up to {max}"));
        }
    }
    assert!(
        failures.is_empty(),
        "differences from Pillow:\n{}",
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn fit_matches_pillow_bit_for_bit() {
    let checked = check_resizes(&data_dir());
    assert!(checked >= 27, "only {checked} resize references found");
}

/// Random cases written by `make_image_refs.py --fuzz DIR` (kept out of the repository).
#[test]
#[ignore = "needs PROMPTREEL_IMAGE_FUZZ=DIR from tools/make_image_refs.py --fuzz DIR"]
fn fit_matches_pillow_on_fuzz_cases() {
    let dir = std::env::var_os("PROMPTREEL_IMAGE_FUZZ")
        .expect("set PROMPTREEL_IMAGE_FUZZ to a folder written by make_image_refs.py --fuzz");
    let checked = check_resizes(Path::new(&dir));
    assert!(
        checked > 0,
        "no fuzz cases in {}",
        Path::new(&dir).display()
    );
    eprintln!("{checked} fuzz cases match Pillow");
}

#[test]
fn crop_equals_stretch_when_the_aspect_matches() {
    let img = source("rgb_b");
    for (w, h) in [(16, 12), (32, 24), (128, 96), (64, 48)] {
        assert_eq!(
            image::fit(&img, w, h, ImageFit::Crop),
            image::fit(&img, w, h, ImageFit::Stretch),
            "{w}x{h}"
        );
    }
}

#[test]
fn model_input_matches_diffusers_preprocess() {
    let reference =
        promptreel_engine::npy::read_f32(&data_dir().join("preprocess__rgb_a__32x24.npy")).unwrap();
    assert_eq!(reference.shape, vec![1, 3, 24, 32]);
    let fitted = image::fit(&source("rgb_a"), 32, 24, ImageFit::Stretch);
    let ours = image::to_model_input(&fitted);
    assert_eq!(ours.len(), reference.data.len());
    // Same operations in the same float32 order: equal, not merely close.
    for (i, (a, b)) in ours.iter().zip(&reference.data).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "value {i}: {a} vs {b}");
    }
}

#[test]
fn model_input_layout_and_range() {
    // 2x2: red, green / blue, white. Planar [3, H, W], rows top to bottom.
    let img = RgbImage::new(2, 2, vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]).unwrap();
    let v = image::to_model_input(&img);
    #[rustfmt::skip]
    let expected = vec![
        1.0, -1.0, -1.0, 1.0, // R plane
        -1.0, 1.0, -1.0, 1.0, // G plane
        -1.0, -1.0, 1.0, 1.0, // B plane
    ];
    assert_eq!(v, expected);
    let grey = image::to_model_input(&RgbImage::new(1, 1, vec![128, 0, 255]).unwrap());
    assert!((grey[0] - (2.0 * 128.0 / 255.0 - 1.0)).abs() < 1e-7);
    assert!(grey.iter().all(|x| (-1.0..=1.0).contains(x)));
}

#[test]
fn read_png_matches_pillow_convert_rgb() {
    for name in [
        "rgb_a",
        "rgb_b",
        "rgb_c",
        "rgb_d",
        "rgb16",
        "palette",
        "palette4",
        "rgba_opaque",
    ] {
        let expected = read_rgb_npy(&data_dir().join(format!("{name}.rgb.npy")));
        assert_eq!(source(name), expected, "{name}.png");
    }
}

/// The error message for reading `path`, which must fail.
fn refusal(path: &Path) -> String {
    match RgbImage::read_png(path) {
        Ok(img) => panic!(
            "{} was accepted ({}x{})",
            path.display(),
            img.width,
            img.height
        ),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, words: &[&str]) {
    for w in words {
        assert!(message.contains(w), "{w:?} missing from: {message}");
    }
}

#[test]
fn refuses_grayscale_and_translucent_images() {
    let gray = refusal(&data_dir().join("gray.png"));
    assert_mentions(
        &gray,
        &["gray.png", "grayscale", "colour", "save it as RGB"],
    );
    for name in ["rgba_translucent.png", "palette_trns.png"] {
        let m = refusal(&data_dir().join(name));
        assert_mentions(&m, &[name, "transparent", "flatten", "save it as RGB"]);
    }
}

/// A scratch folder for files written by one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("promptreel-image-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn refuses_missing_truncated_and_non_png_files_without_panicking() {
    let dir = scratch("broken");
    let missing = refusal(&dir.join("nowhere.png"));
    assert_mentions(
        &missing,
        &["nowhere.png", "does not exist", "check the path"],
    );

    let folder = refusal(&dir);
    assert_mentions(&folder, &["could not read"]);

    let text = dir.join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    assert_mentions(
        &refusal(&text),
        &["notes.png", "not a PNG file", "save the image as a PNG"],
    );

    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert_mentions(&refusal(&empty), &["empty.png", "not a PNG file"]);

    // Truncated at every length, from the bare signature to one byte short. Once all the
    // pixel data is there (only checksums or the IEND chunk cut off), reading it whole is fine,
    // as it is for Pillow; before that, it must be refused.
    let whole = std::fs::read(data_dir().join("rgb_c.png")).unwrap();
    let full = source("rgb_c");
    let cut = dir.join("cut.png");
    let mut accepted = Vec::new();
    for len in 8..whole.len() {
        std::fs::write(&cut, &whole[..len]).unwrap();
        match RgbImage::read_png(&cut) {
            Ok(img) => {
                assert_eq!(img, full, "cut at {len} bytes");
                accepted.push(len);
            }
            Err(e) => assert_mentions(&e.to_string(), &["cut.png", "damaged", "save it again"]),
        }
    }
    // IEND is the last 12 bytes, the IDAT CRC the 4 before it, zlib's Adler-32 the 4 before.
    let data_end = whole.len() - 12 - 4 - 4;
    assert!(
        accepted.iter().all(|&len| len >= data_end),
        "accepted cuts: {accepted:?}"
    );
    // A corrupted byte in the middle of the image data.
    let mut bad = whole.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(&cut, &bad).unwrap();
    assert_mentions(&refusal(&cut), &["cut.png", "damaged"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG with a valid IHDR of the given size and no image data worth reading.
fn header_only_png(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(13u32.to_be_bytes());
    out.extend(&ihdr);
    out.extend(crc32(&ihdr).to_be_bytes());
    out.extend(0u32.to_be_bytes());
    out.extend(b"IEND");
    out.extend(crc32(b"IEND").to_be_bytes());
    out
}

fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    trns: Option<&[u8]>,
    data: &[u8],
) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, width, height);
    enc.set_color(color);
    enc.set_depth(depth);
    if let Some(t) = trns {
        enc.set_trns(t.to_vec());
    }
    let mut w = enc.write_header().unwrap();
    w.write_image_data(data).unwrap();
    w.finish().unwrap();
}

#[test]
fn refuses_zero_and_absurd_sizes() {
    let dir = scratch("sizes");
    let zero = dir.join("zero.png");
    std::fs::write(&zero, header_only_png(0, 5)).unwrap();
    assert_mentions(&refusal(&zero), &["zero.png"]);

    let huge_header = dir.join("huge_header.png");
    std::fs::write(&huge_header, header_only_png(100_000, 100_000)).unwrap();
    assert_mentions(
        &refusal(&huge_header),
        &["huge_header.png", "16384", "scale it"],
    );

    // A real, decodable image one pixel over the limit.
    let wide = dir.join("wide.png");
    write_png(
        &wide,
        16385,
        1,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        None,
        &vec![9; 16385 * 3],
    );
    assert_mentions(&refusal(&wide), &["wide.png", "16385x1", "scale it"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn opaque_alpha_and_colour_keys_are_read_translucent_ones_refused() {
    let dir = scratch("alpha");
    let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();

    // 16-bit RGBA, fully opaque: the high bytes, like Pillow's "RGBA;16B" then convert("RGB").
    let rgba16: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], 0x11, p[1], 0x22, p[2], 0x33, 0xFF, 0xFF])
        .collect();
    let path = dir.join("rgba16.png");
    write_png(
        &path,
        4,
        3,
        png::ColorType::Rgba,
        png::BitDepth::Sixteen,
        None,
        &rgba16,
    );
    assert_eq!(
        RgbImage::read_png(&path).unwrap(),
        RgbImage::new(4, 3, rgb.clone()).unwrap()
    );

    // RGB with a tRNS colour key no pixel has: nothing is transparent, read as RGB.
    let path = dir.join("key_unused.png");
    write_png(
        &path,
        4,
        3,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        Some(&[0, 1, 0, 2, 0, 3]),
        &rgb,
    );
    assert_eq!(
        RgbImage::read_png(&path).unwrap(),
        RgbImage::new(4, 3, rgb.clone()).unwrap()
    );

    // The same key on a colour that is present: those pixels are transparent.
    let path = dir.join("key_used.png");
    let key = [0, rgb[3], 0, rgb[4], 0, rgb[5]];
    write_png(
        &path,
        4,
        3,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        Some(&key),
        &rgb,
    );
    assert_mentions(&refusal(&path), &["key_used.png", "transparent", "flatten"]);

    // 8-bit RGBA with one pixel at alpha 254.
    let mut rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    rgba[4 * 7 + 3] = 254;
    let path = dir.join("almost.png");
    write_png(
        &path,
        4,
        3,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        None,
        &rgba,
    );
    assert_mentions(&refusal(&path), &["almost.png", "transparent"]);

    // Grayscale with alpha is grayscale first.
    let path = dir.join("gray_alpha.png");
    write_png(
        &path,
        2,
        2,
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        None,
        &[1, 255, 2, 255, 3, 255, 4, 255],
    );
    assert_mentions(&refusal(&path), &["gray_alpha.png", "grayscale"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_pixel_sources_and_targets() {
    let dot = RgbImage::new(1, 1, vec![10, 20, 30]).unwrap();
    for (w, h) in [(1, 1), (1, 8), (8, 1), (3, 5)] {
        for fit in [ImageFit::Crop, ImageFit::Stretch] {
            let out = image::fit(&dot, w, h, fit);
            assert_eq!((out.width, out.height), (w, h));
            assert!(
                out.data.chunks_exact(3).all(|p| p == [10, 20, 30]),
                "{w}x{h} {fit:?}"
            );
        }
    }
    // A one-pixel-wide image read back from a real PNG and scaled both ways.
    let img = source("rgb_b");
    let column = image::fit(&img, 1, 48, ImageFit::Stretch);
    let wider = image::fit(&column, 5, 48, ImageFit::Stretch);
    // Upscaling one column spreads it unchanged along the row.
    for (y, row) in wider.data.chunks_exact(5 * 3).enumerate() {
        assert!(
            row.chunks_exact(3)
                .all(|p| p == &column.data[y * 3..y * 3 + 3]),
            "row {y}"
        );
    }
}
