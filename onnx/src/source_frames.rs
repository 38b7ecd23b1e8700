//! Reading a video-to-video source from disk: a folder of PNG frames (in file-name order, as
//! `promptreel generate` writes them) or an animated GIF.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::RgbImage;
use crate::pipeline::MAX_SIDE;

/// The first `limit` frames of the source at `path` (a folder of `.png` files or a `.gif`).
pub fn read(path: &Path, limit: usize) -> Result<Vec<RgbImage>> {
    if !path.exists() {
        return Err(Error::setting(format!(
            "the source video {} does not exist; pass a folder of PNG frames or a .gif file",
            path.display()
        )));
    }
    if path.is_dir() {
        read_folder(path, limit)
    } else if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gif"))
    {
        read_gif(path, limit)
    } else {
        Err(Error::setting(format!(
            "the source video {} is neither a folder of PNG frames nor a .gif file; export the \
             clip as numbered PNG frames into a folder and pass the folder",
            path.display()
        )))
    }
}

fn read_folder(dir: &Path, limit: usize) -> Result<Vec<RgbImage>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io("read the source folder", dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    if files.is_empty() {
        return Err(Error::setting(format!(
            "the source folder {} holds no .png frames; put the clip's frames there as PNG \
             files named in order (frame_0000.png, frame_0001.png, ...)",
            dir.display()
        )));
    }
    files.sort();
    files.truncate(limit);
    files.iter().map(|f| RgbImage::read_png(f)).collect()
}

fn read_gif(path: &Path, limit: usize) -> Result<Vec<RgbImage>> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| Error::io("open the source video", path, e))?;
    let damaged = |e: gif::DecodingError| {
        Error::setting(format!(
            "the source video {shown} is a damaged or unsupported GIF ({e}); export the clip \
             as PNG frames into a folder instead"
        ))
        .with_cause(e)
    };
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(BufReader::new(file)).map_err(damaged)?;
    let (w, h) = (decoder.width() as usize, decoder.height() as usize);
    if w == 0 || h == 0 || w > MAX_SIDE as usize || h > MAX_SIDE as usize {
        return Err(Error::setting(format!(
            "the source video {shown} is {w}x{h} pixels; Promptreel reads sources from 1 to \
             {MAX_SIDE} pixels a side"
        )));
    }
    // GIF frames are patches over a canvas; each output frame is the canvas after its patch.
    let mut canvas = vec![0u8; w * h * 4];
    let mut frames = Vec::new();
    while frames.len() < limit {
        let Some(frame) = decoder.read_next_frame().map_err(damaged)? else {
            break;
        };
        let before = (frame.dispose == gif::DisposalMethod::Previous).then(|| canvas.clone());
        let (fl, ft) = (usize::from(frame.left), usize::from(frame.top));
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        for y in 0..fh.min(h.saturating_sub(ft)) {
            for x in 0..fw.min(w.saturating_sub(fl)) {
                let src = (y * fw + x) * 4;
                if frame.buffer[src + 3] == 0 {
                    continue; // transparent: the canvas shows through
                }
                let dst = ((ft + y) * w + fl + x) * 4;
                canvas[dst..dst + 4].copy_from_slice(&frame.buffer[src..src + 4]);
            }
        }
        let rgb: Vec<u8> = canvas
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        frames.push(RgbImage::new(w as u32, h as u32, rgb)?);
        match frame.dispose {
            gif::DisposalMethod::Background => {
                for y in 0..fh.min(h.saturating_sub(ft)) {
                    let row = ((ft + y) * w + fl) * 4;
                    let end = row + fw.min(w.saturating_sub(fl)) * 4;
                    canvas[row..end].fill(0);
                }
            }
            gif::DisposalMethod::Previous => {
                if let Some(b) = before {
                    canvas = b;
                }
            }
            _ => {}
        }
    }
    if frames.is_empty() {
        return Err(Error::setting(format!(
            "the source video {shown} has no frames"
        )));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_gif(path: &Path, frames: &[[u8; 3]], w: u16, h: u16) {
        let f = File::create(path).unwrap();
        let mut enc = gif::Encoder::new(f, w, h, &[]).unwrap();
        for c in frames {
            let px: Vec<u8> = (0..w as usize * h as usize)
                .flat_map(|_| [c[0], c[1], c[2]])
                .collect();
            let frame = gif::Frame::from_rgb(w, h, &px);
            enc.write_frame(&frame).unwrap();
        }
    }

    #[test]
    fn a_gif_reads_frame_by_frame_up_to_the_limit() {
        let dir = std::env::temp_dir().join(format!("promptreel-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("clip.gif");
        write_gif(&p, &[[255, 0, 0], [0, 255, 0], [0, 0, 255]], 6, 4);
        let all = read(&p, 10).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!((all[0].width, all[0].height), (6, 4));
        assert_eq!(&all[0].data[..3], &[255, 0, 0]);
        assert_eq!(&all[2].data[..3], &[0, 0, 255]);
        assert_eq!(read(&p, 2).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_empty_sources_are_named() {
        let dir = std::env::temp_dir().join(format!("promptreel-src-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = read(&dir, 4).unwrap_err().to_string();
        assert!(e.contains("holds no .png frames"), "{e}");
        let e = read(&dir.join("nope.gif"), 4).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        std::fs::write(dir.join("x.mp4"), b"not a video we read").unwrap();
        let e = read(&dir.join("x.mp4"), 4).unwrap_err().to_string();
        assert!(
            e.contains("neither a folder of PNG frames nor a .gif"),
            "{e}"
        );
        std::fs::write(dir.join("bad.gif"), b"GIF89a-broken").unwrap();
        let e = read(&dir.join("bad.gif"), 4).unwrap_err().to_string();
        assert!(e.contains("damaged or unsupported GIF"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
