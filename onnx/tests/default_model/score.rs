//! Scores a generated clip: the dominant non-background colour and which way the object moved.
//! The same rules as tools/default_model/score.py, which printed the figures during training.

/// The training palette (tools/default_model/clips.py COLOURS), linear 0..1 RGB.
pub const PALETTE: [(&str, [f32; 3]); 8] = [
    ("red", [0.95, 0.10, 0.10]),
    ("green", [0.10, 0.80, 0.15]),
    ("blue", [0.15, 0.25, 1.00]),
    ("yellow", [1.00, 0.90, 0.10]),
    ("white", [1.00, 1.00, 1.00]),
    ("cyan", [0.10, 0.90, 0.90]),
    ("magenta", [0.90, 0.10, 0.90]),
    ("orange", [1.00, 0.50, 0.05]),
];

/// A pixel belongs to the object when one channel differs from the background by this much.
const OBJECT_DIFF: f32 = 0.25;
/// A centroid that moves less than this many pixels from the first to the last frame is still.
const STILL_PX: f32 = 3.0;

/// One frame, `[height, width, 3]` floats.
pub struct Frame<'a> {
    pub rgb: &'a [f32],
    pub width: usize,
    pub height: usize,
}

impl Frame<'_> {
    fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// The background's gray level: the median of every channel value on the frame's border.
    pub fn background_level(&self) -> f32 {
        let (w, h) = (self.width, self.height);
        let mut v = Vec::new();
        for x in 0..w {
            v.extend(self.pixel(x, 0));
            v.extend(self.pixel(x, h - 1));
        }
        for y in 0..h {
            v.extend(self.pixel(0, y));
            v.extend(self.pixel(w - 1, y));
        }
        v.sort_by(f32::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    fn is_object(&self, x: usize, y: usize, bg: f32) -> bool {
        self.pixel(x, y)
            .iter()
            .any(|c| (c - bg).abs() > OBJECT_DIFF)
    }

    fn object_pixels(&self, bg: f32) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.height)
            .flat_map(move |y| (0..self.width).map(move |x| (x, y)))
            .filter(move |&(x, y)| self.is_object(x, y, bg))
    }

    fn centroid(&self, bg: f32) -> Option<(f32, f32)> {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
        for (x, y) in self.object_pixels(bg) {
            sx += x as f32;
            sy += y as f32;
            n += 1;
        }
        (n > 0).then(|| (sx / n as f32, sy / n as f32))
    }
}

/// The palette colour nearest to the mean of every object pixel of the clip.
pub fn colour_of(frames: &[Frame]) -> Option<&'static str> {
    let bg = frames[0].background_level();
    let (mut sum, mut n) = ([0.0f32; 3], 0usize);
    for f in frames {
        for (x, y) in f.object_pixels(bg) {
            let p = f.pixel(x, y);
            (0..3).for_each(|c| sum[c] += p[c]);
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    let mean = sum.map(|s| s / n as f32);
    PALETTE
        .iter()
        .map(|(name, c)| {
            let d: f32 = (0..3).map(|i| (c[i] - mean[i]).powi(2)).sum();
            (name, d)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| *name)
}

/// "left", "right", "up", "down" or "still", from the centroid of the first and last frames.
pub fn direction_of(frames: &[Frame]) -> Option<&'static str> {
    let bg = frames[0].background_level();
    let (ax, ay) = frames.first()?.centroid(bg)?;
    let (bx, by) = frames.last()?.centroid(bg)?;
    let (dx, dy) = (bx - ax, by - ay);
    Some(if dx.abs().max(dy.abs()) < STILL_PX {
        "still"
    } else if dx.abs() >= dy.abs() {
        if dx > 0.0 { "right" } else { "left" }
    } else if dy > 0.0 {
        "down"
    } else {
        "up"
    })
}

/// "black" or "gray", whichever level the border is nearer.
pub fn background_of(frames: &[Frame]) -> &'static str {
    if frames[0].background_level() < 0.25 {
        "black"
    } else {
        "gray"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32x32 clip of a 6x6 square of `rgb` on `bg`, its corner moving by (dx, dy) per frame.
    fn clip(rgb: [f32; 3], bg: f32, dx: i32, dy: i32) -> Vec<Vec<f32>> {
        (0..8)
            .map(|f| {
                let mut v = vec![bg; 32 * 32 * 3];
                let (ox, oy) = (13 + dx * (f - 4) / 2, 13 + dy * (f - 4) / 2);
                for y in oy..oy + 6 {
                    for x in ox..ox + 6 {
                        let i = (y as usize * 32 + x as usize) * 3;
                        v[i..i + 3].copy_from_slice(&rgb);
                    }
                }
                v
            })
            .collect()
    }

    fn frames(c: &[Vec<f32>]) -> Vec<Frame<'_>> {
        c.iter()
            .map(|rgb| Frame {
                rgb,
                width: 32,
                height: 32,
            })
            .collect()
    }

    #[test]
    fn scorer_reads_synthetic_clips() {
        let c = clip([1.0, 0.5, 0.05], 0.5, -3, 0);
        assert_eq!(colour_of(&frames(&c)), Some("orange"));
        assert_eq!(direction_of(&frames(&c)), Some("left"));
        assert_eq!(background_of(&frames(&c)), "gray");
        let c = clip([0.1, 0.9, 0.9], 0.0, 0, 3);
        assert_eq!(colour_of(&frames(&c)), Some("cyan"));
        assert_eq!(direction_of(&frames(&c)), Some("down"));
        assert_eq!(background_of(&frames(&c)), "black");
        let c = clip([0.9, 0.1, 0.9], 0.0, 0, 0);
        assert_eq!(direction_of(&frames(&c)), Some("still"));
        let empty = vec![vec![0.0; 32 * 32 * 3]; 8];
        assert_eq!(colour_of(&frames(&empty)), None);
        assert_eq!(direction_of(&frames(&empty)), None);
    }
}
