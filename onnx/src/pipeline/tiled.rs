//! Tiled decoding for whole-clip VAE decoders (LTX-Video), as diffusers'
//! `AutoencoderKLLTXVideo` decodes with `enable_tiling()` and framewise decoding on: the latent
//! clip is cut into overlapping windows of a few latent frames (`_temporal_tiled_decode`), each
//! window into overlapping spatial tiles (`tiled_decode`), and neighbouring results are
//! cross-faded over the overlap. One decoder call then holds one tile's activations, whatever
//! the clip's length and size.
//!
//! The blends run in place and in raster order, as diffusers' do: a tile is faded into its
//! upper and left neighbours *after* those were themselves faded, and the arithmetic is f32
//! with the weights rounded from f64, as torch computes `tensor * python_float`.

use crate::error::Result;

/// Tile sizes in pixels and frames (diffusers' defaults in [`Tiling::DIFFUSERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tiling {
    pub min_height: usize,
    pub min_width: usize,
    pub stride_height: usize,
    pub stride_width: usize,
    pub min_frames: usize,
    pub stride_frames: usize,
}

impl Tiling {
    /// `AutoencoderKLLTXVideo`'s tile settings.
    pub(crate) const DIFFUSERS: Self = Self {
        min_height: 512,
        min_width: 512,
        stride_height: 448,
        stride_width: 448,
        min_frames: 16,
        stride_frames: 8,
    };
}

/// A batch-1 video tensor `[C, T, H, W]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Vol {
    pub c: usize,
    pub t: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Vol {
    fn at(&self, c: usize, t: usize, y: usize, x: usize) -> usize {
        ((c * self.t + t) * self.h + y) * self.w + x
    }

    /// `self[:, t0..t1, y0..y1, x0..x1]`, ranges clipped to the tensor as Python slices are.
    pub(crate) fn slice(&self, t: (usize, usize), y: (usize, usize), x: (usize, usize)) -> Vol {
        let clip = |(a, b): (usize, usize), n: usize| (a.min(n), b.min(n).max(a.min(n)));
        let (t0, t1) = clip(t, self.t);
        let (y0, y1) = clip(y, self.h);
        let (x0, x1) = clip(x, self.w);
        let (nt, nh, nw) = (t1 - t0, y1 - y0, x1 - x0);
        let mut data = Vec::with_capacity(self.c * nt * nh * nw);
        for c in 0..self.c {
            for ti in t0..t1 {
                for yi in y0..y1 {
                    let row = self.at(c, ti, yi, 0);
                    data.extend_from_slice(&self.data[row + x0..row + x1]);
                }
            }
        }
        Vol {
            c: self.c,
            t: nt,
            h: nh,
            w: nw,
            data,
        }
    }

    /// Copies `src` into `self` at frame `t0`, row `y0`, column `x0`.
    fn paste(&mut self, src: &Vol, t0: usize, y0: usize, x0: usize) {
        for c in 0..src.c {
            for ti in 0..src.t {
                for yi in 0..src.h {
                    let s = src.at(c, ti, yi, 0);
                    let d = self.at(c, t0 + ti, y0 + yi, x0);
                    self.data[d..d + src.w].copy_from_slice(&src.data[s..s + src.w]);
                }
            }
        }
    }
}

/// The blend weights of diffusers' `blend_*`: `a` fades out, `b` in, over `extent` steps.
fn weights(i: usize, extent: usize) -> (f32, f32) {
    let f = i as f64 / extent as f64;
    ((1.0 - f) as f32, f as f32)
}

/// The axis a blend runs along.
#[derive(Clone, Copy)]
enum Axis {
    /// frames (diffusers' `blend_t`)
    Time,
    /// rows (`blend_v`)
    Rows,
    /// columns (`blend_h`)
    Columns,
}

/// diffusers' `blend_t` / `blend_v` / `blend_h`: fades the last `extent` slices of `a` along
/// `axis` out and the first ones of `b` in, writing `b`.
fn blend(a: &Vol, b: &mut Vol, extent: usize, axis: Axis) {
    let along = |v: &Vol| match axis {
        Axis::Time => v.t,
        Axis::Rows => v.h,
        Axis::Columns => v.w,
    };
    let e = extent.min(along(a)).min(along(b));
    let (t, h, w) = (b.t.min(a.t), b.h.min(a.h), b.w.min(a.w));
    for i in 0..e {
        let (wa, wb) = weights(i, e);
        let j = along(a) - e + i;
        // the slice at `i` of b and at `j` of a, each as (frames, rows, columns) ranges
        let (bt, bh, bw, at, ah, aw) = match axis {
            Axis::Time => (i..i + 1, 0..h, 0..w, j, 0, 0),
            Axis::Rows => (0..t, i..i + 1, 0..w, 0, j, 0),
            Axis::Columns => (0..t, 0..h, i..i + 1, 0, 0, j),
        };
        for c in 0..b.c {
            for ti in bt.clone() {
                for y in bh.clone() {
                    for x in bw.clone() {
                        let (ta, ya, xa) = match axis {
                            Axis::Time => (at, y, x),
                            Axis::Rows => (ti, ah, x),
                            Axis::Columns => (ti, y, aw),
                        };
                        let ib = b.at(c, ti, y, x);
                        b.data[ib] = a.data[a.at(c, ta, ya, xa)] * wa + b.data[ib] * wb;
                    }
                }
            }
        }
    }
}

/// How a clip's latents are cut, in latent units.
struct LatentTiles {
    min_h: usize,
    min_w: usize,
    stride_h: usize,
    stride_w: usize,
    min_t: usize,
    stride_t: usize,
}

impl LatentTiles {
    fn new(tiling: &Tiling, spatial: usize, temporal: usize) -> Self {
        Self {
            min_h: tiling.min_height / spatial,
            min_w: tiling.min_width / spatial,
            stride_h: (tiling.stride_height / spatial).max(1),
            stride_w: (tiling.stride_width / spatial).max(1),
            min_t: tiling.min_frames / temporal,
            stride_t: (tiling.stride_frames / temporal).max(1),
        }
    }
}

/// Whether diffusers would tile latents of `[C, F, h, w]` at all (else one decoder call).
#[cfg(test)]
pub(crate) fn tiles(
    tiling: &Tiling,
    spatial: usize,
    temporal: usize,
    f: usize,
    h: usize,
    w: usize,
) -> bool {
    let l = LatentTiles::new(tiling, spatial, temporal);
    f > l.min_t || w > l.min_w || h > l.min_h
}

/// The largest latent window one decoder call sees: (frames, height, width).
pub(crate) fn largest_call(
    tiling: &Tiling,
    spatial: usize,
    temporal: usize,
    f: usize,
    h: usize,
    w: usize,
) -> (usize, usize, usize) {
    let l = LatentTiles::new(tiling, spatial, temporal);
    let ft = if f > l.min_t { f.min(l.min_t + 1) } else { f };
    (ft, h.min(l.min_h), w.min(l.min_w))
}

/// How many decoder calls [`decode`] makes for latents of `[C, f, h, w]` (for progress).
pub(crate) fn count_calls(
    tiling: &Tiling,
    spatial: usize,
    temporal: usize,
    f: usize,
    h: usize,
    w: usize,
) -> usize {
    let l = LatentTiles::new(tiling, spatial, temporal);
    let spatial_calls = |h: usize, w: usize| {
        if w > l.min_w || h > l.min_h {
            h.div_ceil(l.stride_h) * w.div_ceil(l.stride_w)
        } else {
            1
        }
    };
    if f > l.min_t {
        f.div_ceil(l.stride_t) * spatial_calls(h, w)
    } else {
        spatial_calls(h, w)
    }
}

/// Decodes latents `z` (`[C, F, h, w]`) tile by tile with `decode` (one decoder call on a
/// latent window, returning its pixels `[3, T, H, W]`); `progress` is told each call.
pub(crate) fn decode(
    z: &Vol,
    tiling: &Tiling,
    spatial: usize,
    temporal: usize,
    decode: &mut dyn FnMut(&Vol) -> Result<Vol>,
) -> Result<Vol> {
    let l = LatentTiles::new(tiling, spatial, temporal);
    if z.t > l.min_t {
        temporal_tiled(z, tiling, &l, spatial, temporal, decode)
    } else if z.w > l.min_w || z.h > l.min_h {
        spatial_tiled(z, tiling, &l, spatial, decode)
    } else {
        decode(z)
    }
}

/// `_temporal_tiled_decode`: windows of `min_t + 1` latent frames every `stride_t`. diffusers
/// keeps every window until the end; a window's blend only reads the one before it (already
/// blended) and only writes itself, so we keep two at a time and append each window's kept
/// frames as soon as it is blended: the same numbers in a bounded amount of memory.
fn temporal_tiled(
    z: &Vol,
    tiling: &Tiling,
    l: &LatentTiles,
    spatial: usize,
    temporal: usize,
    decode: &mut dyn FnMut(&Vol) -> Result<Vol>,
) -> Result<Vol> {
    let frames = (z.t - 1) * temporal + 1;
    let blend_frames = tiling.min_frames - tiling.stride_frames;
    let (h, w) = (z.h * spatial, z.w * spatial);
    let mut out: Option<Vol> = None;
    let mut t0 = 0;
    let mut prev: Option<Vol> = None;
    for i in (0..z.t).step_by(l.stride_t) {
        let window = z.slice((i, i + l.min_t + 1), (0, z.h), (0, z.w));
        let mut tile = if window.w > l.min_w || window.h > l.min_h {
            spatial_tiled(&window, tiling, l, spatial, decode)?
        } else {
            decode(&window)?
        };
        let keep = if let Some(before) = &prev {
            // every window after the first drops its last frame, then fades in over the
            // previous one's last frames
            tile = tile.slice((0, tile.t.saturating_sub(1)), (0, tile.h), (0, tile.w));
            blend(before, &mut tile, blend_frames, Axis::Time);
            tiling.stride_frames
        } else {
            tiling.stride_frames + 1
        };
        let out = out.get_or_insert_with(|| Vol {
            c: tile.c,
            t: frames,
            h,
            w,
            data: vec![0.0; tile.c * frames * h * w],
        });
        let n = keep.min(tile.t).min(frames - t0);
        if n > 0 {
            out.paste(&tile.slice((0, n), (0, tile.h), (0, tile.w)), t0, 0, 0);
            t0 += n;
        }
        prev = Some(tile);
    }
    let mut out = out.unwrap_or(Vol {
        c: 3,
        t: 0,
        h,
        w,
        data: Vec::new(),
    });
    if t0 < out.t {
        // windows gave fewer frames than the clip has (diffusers' cat would too)
        out = out.slice((0, t0), (0, h), (0, w));
    }
    Ok(out)
}

/// `tiled_decode`: spatial tiles of `min_h x min_w` latents every `stride_h`, `stride_w`. As
/// in time, a tile's blends read its upper and left neighbours (already blended) and write
/// only itself, so one row of tiles and the row above are kept.
fn spatial_tiled(
    z: &Vol,
    tiling: &Tiling,
    l: &LatentTiles,
    spatial: usize,
    decode: &mut dyn FnMut(&Vol) -> Result<Vol>,
) -> Result<Vol> {
    let (sample_h, sample_w) = (z.h * spatial, z.w * spatial);
    let blend_h_px = tiling.min_height - tiling.stride_height;
    let blend_w_px = tiling.min_width - tiling.stride_width;
    let mut out: Option<Vol> = None;
    let mut above: Vec<Vol> = Vec::new();
    for (ri, i) in (0..z.h).step_by(l.stride_h).enumerate() {
        let mut row: Vec<Vol> = Vec::new();
        for (ci, j) in (0..z.w).step_by(l.stride_w).enumerate() {
            let mut tile = decode(&z.slice((0, z.t), (i, i + l.min_h), (j, j + l.min_w)))?;
            if let Some(up) = above.get(ci) {
                blend(up, &mut tile, blend_h_px, Axis::Rows);
            }
            if let Some(left) = row.last() {
                blend(left, &mut tile, blend_w_px, Axis::Columns);
            }
            let out = out.get_or_insert_with(|| Vol {
                c: tile.c,
                t: tile.t,
                h: sample_h,
                w: sample_w,
                data: vec![0.0; tile.c * tile.t * sample_h * sample_w],
            });
            let (y0, x0) = (ri * tiling.stride_height, ci * tiling.stride_width);
            if y0 < sample_h && x0 < sample_w {
                let keep_h = tile.h.min(tiling.stride_height).min(sample_h - y0);
                let keep_w = tile.w.min(tiling.stride_width).min(sample_w - x0);
                let t = tile.t.min(out.t);
                out.paste(&tile.slice((0, t), (0, keep_h), (0, keep_w)), 0, y0, x0);
            }
            row.push(tile);
        }
        above = row;
    }
    Ok(out.unwrap_or(Vol {
        c: 3,
        t: 0,
        h: sample_h,
        w: sample_w,
        data: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, t: usize, h: usize, w: usize) -> Vol {
        let n = c * t * h * w;
        Vol {
            c,
            t,
            h,
            w,
            data: (0..n).map(|i| i as f32).collect(),
        }
    }

    #[test]
    fn slices_clip_like_python() {
        let v = ramp(1, 2, 3, 4);
        let s = v.slice((1, 9), (1, 3), (2, 9));
        assert_eq!((s.t, s.h, s.w), (1, 2, 2));
        assert_eq!(s.data, vec![18.0, 19.0, 22.0, 23.0]);
    }

    /// A "decoder" that upsamples nearest-neighbour by `s` and maps latent frames f to
    /// 8(f-1)+1 frames, so tiled and untiled decodes agree away from blends.
    fn fake(s: usize, tt: usize) -> impl FnMut(&Vol) -> Result<Vol> {
        move |z: &Vol| {
            let t = (z.t - 1) * tt + 1;
            let (h, w) = (z.h * s, z.w * s);
            let mut out = Vol {
                c: 3,
                t,
                h,
                w,
                data: vec![0.0; 3 * t * h * w],
            };
            for c in 0..3 {
                for ti in 0..t {
                    let src_t = ti.div_ceil(tt);
                    for y in 0..h {
                        for x in 0..w {
                            let i = out.at(c, ti, y, x);
                            out.data[i] = z.data[z.at(0, src_t, y / s, x / s)];
                        }
                    }
                }
            }
            Ok(out)
        }
    }

    #[test]
    fn a_constant_clip_stays_constant_through_every_blend() {
        // a constant latent decodes to a constant: blends of equal values change nothing
        let z = Vol {
            c: 1,
            t: 6,
            h: 5,
            w: 7,
            data: vec![0.25; 6 * 5 * 7],
        };
        let tiling = Tiling {
            min_height: 8,
            min_width: 8,
            stride_height: 6,
            stride_width: 6,
            min_frames: 4,
            stride_frames: 2,
        };
        assert!(tiles(&tiling, 2, 2, z.t, z.h, z.w));
        let mut calls = 0;
        let mut dec = fake(2, 2);
        let out = decode(&z, &tiling, 2, 2, &mut |v: &Vol| {
            calls += 1;
            dec(v)
        })
        .expect("decode");
        assert_eq!((out.c, out.t, out.h, out.w), (3, 11, 10, 14));
        assert!(out.data.iter().all(|v| (*v - 0.25).abs() < 1e-6));
        assert!(calls > 6, "{calls} calls");
        assert_eq!(largest_call(&tiling, 2, 2, 6, 5, 7), (3, 4, 4));
    }

    #[test]
    fn small_clips_go_through_in_one_call() {
        let z = ramp(1, 2, 3, 3);
        let tiling = Tiling::DIFFUSERS;
        assert!(!tiles(&tiling, 32, 8, 2, 3, 3));
        let mut dec = fake(32, 8);
        let out = decode(&z, &tiling, 32, 8, &mut dec).expect("decode");
        assert_eq!(out, fake(32, 8)(&z).expect("whole"));
    }
}
