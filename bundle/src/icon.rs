//! The plugin icon: a film frame with a text caret, drawn in code so the PNG and the SVG agree.

/// The SVG icon (256 x 256 view box).
pub const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 256 256" width="256" height="256">
  <rect x="16" y="40" width="224" height="176" rx="24" fill="#1d2433"/>
  <rect x="40" y="64" width="176" height="128" rx="12" fill="#ff6a3d"/>
  <polygon points="108,96 108,160 164,128" fill="#fff4e8"/>
  <rect x="16" y="40" width="224" height="16" fill="#2f3a52"/>
  <rect x="16" y="200" width="224" height="16" fill="#2f3a52"/>
</svg>
"##;

/// Inside-test for a rounded rectangle.
fn in_round_rect(x: f32, y: f32, r: (f32, f32, f32, f32), radius: f32) -> bool {
    let (x0, y0, w, h) = r;
    if x < x0 || y < y0 || x > x0 + w || y > y0 + h {
        return false;
    }
    let cx = x.clamp(x0 + radius, x0 + w - radius);
    let cy = y.clamp(y0 + radius, y0 + h - radius);
    (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius
}

fn in_triangle(x: f32, y: f32) -> bool {
    // Points (108,96), (108,160), (164,128).
    x >= 108.0 && (y - 128.0).abs() <= (164.0 - x) * 32.0 / 56.0
}

/// The icon as an RGBA PNG of `size` x `size` pixels, 4x4 supersampled.
pub fn png(size: u32) -> Vec<u8> {
    let mut rgba = vec![0u8; (size * size * 4) as usize];
    let k = 256.0 / size as f32;
    for py in 0..size {
        for px in 0..size {
            let mut acc = [0.0f32; 4];
            for sy in 0..4 {
                for sx in 0..4 {
                    let x = (px as f32 + (sx as f32 + 0.5) / 4.0) * k;
                    let y = (py as f32 + (sy as f32 + 0.5) / 4.0) * k;
                    let c: Option<[f32; 3]> = if in_triangle(x, y)
                        && in_round_rect(x, y, (40.0, 64.0, 176.0, 128.0), 12.0)
                    {
                        Some([255.0, 244.0, 232.0])
                    } else if in_round_rect(x, y, (40.0, 64.0, 176.0, 128.0), 12.0) {
                        Some([255.0, 106.0, 61.0])
                    } else if in_round_rect(x, y, (16.0, 40.0, 224.0, 176.0), 24.0) {
                        if !(56.0..=200.0).contains(&y) {
                            Some([47.0, 58.0, 82.0])
                        } else {
                            Some([29.0, 36.0, 51.0])
                        }
                    } else {
                        None
                    };
                    if let Some(c) = c {
                        acc[0] += c[0];
                        acc[1] += c[1];
                        acc[2] += c[2];
                        acc[3] += 255.0;
                    }
                }
            }
            let i = ((py * size + px) * 4) as usize;
            let a = acc[3] / 16.0;
            for c in 0..3 {
                // Straight (un-premultiplied) colour: average over covered samples only.
                rgba[i + c] = if acc[3] > 0.0 {
                    (acc[c] / (acc[3] / 255.0)).round() as u8
                } else {
                    0
                };
            }
            rgba[i + 3] = a.round() as u8;
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&rgba);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn png_is_a_valid_image_with_transparent_corners() {
        let bytes = super::png(128);
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("png");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!((info.width, info.height), (128, 128));
        assert_eq!(buf[3], 0, "corner is transparent");
        let centre = ((64 * 128 + 64) * 4) as usize;
        assert_eq!(buf[centre + 3], 255, "centre is opaque");
    }
}
