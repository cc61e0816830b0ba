//! Offline remux: an FLV file (H.264/AAC) to an HLS VOD playlist and MPEG-TS
//! segments, with the same core the live packager uses.
//!
//! ```text
//! cargo run --release --example remux -- IN.flv OUTDIR [--segment-seconds N]
//! ```
//!
//! Muxing runs on the main thread; a second thread writes the segments, so
//! disk writes overlap with muxing.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use streamly::core::media::FlvReader;
use streamly::hls::{LivePlaylist, PlaylistEntry, Segment, Segmenter};

struct Args {
    input: PathBuf,
    output: PathBuf,
    segment: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut positional = Vec::new();
    let mut segment = Duration::from_secs(2);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--segment-seconds" {
            let value = args.next().context("--segment-seconds needs a value")?;
            let secs: f64 = value.parse().context("--segment-seconds: not a number")?;
            if !(secs > 0.0 && secs.is_finite()) {
                bail!("--segment-seconds must be positive");
            }
            segment = Duration::from_secs_f64(secs);
        } else {
            positional.push(PathBuf::from(arg));
        }
    }
    let [input, output]: [PathBuf; 2] = positional
        .try_into()
        .map_err(|_| anyhow::anyhow!("usage: remux IN.flv OUTDIR [--segment-seconds N]"))?;
    Ok(Args {
        input,
        output,
        segment,
    })
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let data =
        Bytes::from(std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?);
    std::fs::create_dir_all(&args.output).with_context(|| format!("creating {}", args.output.display()))?;

    // Segments go to a writer thread through a small bounded queue.
    let (tx, rx) = mpsc::sync_channel::<(PathBuf, Segment)>(4);
    let writer = std::thread::spawn(move || -> anyhow::Result<()> {
        for (path, segment) in rx {
            std::fs::write(&path, &segment.data).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    });

    let mut segmenter = Segmenter::new(args.segment);
    let mut playlist = LivePlaylist::vod(args.segment);
    let (mut bytes_out, mut dropped) = (0usize, 0usize);
    let mut emit = |segment: Segment, playlist: &mut LivePlaylist| -> anyhow::Result<()> {
        let uri = format!("{}.ts", playlist.next_sequence());
        bytes_out += segment.data.len();
        playlist.push(PlaylistEntry {
            uri: uri.clone(),
            duration: segment.duration,
            discontinuity: segment.discontinuity,
            program_date_time: None,
        });
        tx.send((args.output.join(uri), segment))
            .context("segment writer stopped")
    };
    for tag in FlvReader::new(data.clone())? {
        let Some(frame) = tag?.to_frame()? else { continue };
        match segmenter.push(&frame) {
            Ok(Some(segment)) => emit(segment, &mut playlist)?,
            Ok(None) => {}
            Err(_) => dropped += 1,
        }
    }
    if let Some(segment) = segmenter.finish() {
        emit(segment, &mut playlist)?;
    }
    drop(tx);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("segment writer panicked"))??;
    playlist.end();
    std::fs::write(args.output.join("index.m3u8"), playlist.render())?;

    let elapsed = started.elapsed();
    eprintln!(
        "{} -> {}: {} segments, {:.1} MB in, {:.1} MB out, {} frames dropped, {:.3} s",
        args.input.display(),
        args.output.join("index.m3u8").display(),
        playlist.entries().len(),
        data.len() as f64 / 1e6,
        bytes_out as f64 / 1e6,
        dropped,
        elapsed.as_secs_f64()
    );
    Ok(())
}
