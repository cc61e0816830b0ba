//! Offline remux: an FLV file (H.264/AAC) to an HLS VOD playlist and MPEG-TS
//! segments, with the same core the live packager uses.
//!
//! ```text
//! cargo run --release --example remux -- IN.flv OUTDIR [--segment-seconds N]
//! ```
//!
//! The file is read as a stream of tags (no whole-file buffer); muxing runs
//! on the main thread; a second thread writes the segments, so disk writes
//! overlap with muxing, and hands their buffers back for reuse.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use streamly::core::media::{MediaFrame, parse_audio_tag, parse_video_tag};
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

/// Reads FLV tags one at a time (Adobe FLV spec v10.1, E.2–E.3) and parses
/// audio and video tags into frames; other tags are skipped.
struct FlvStream<R> {
    reader: R,
    /// Bytes read so far.
    read: u64,
    /// Tracks left out after a tag they could not parse (audio, video).
    skipped: [bool; 2],
}

impl<R: Read> FlvStream<R> {
    fn open(mut reader: R) -> anyhow::Result<Self> {
        let mut header = [0u8; 9];
        reader.read_exact(&mut header).context("reading the FLV header")?;
        if &header[..3] != b"FLV" {
            bail!("not an FLV file");
        }
        let header_len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
        // The rest of the header, then PreviousTagSize0.
        let skip = u64::from(header_len.saturating_sub(9)) + 4;
        std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink())?;
        Ok(Self {
            reader,
            read: u64::from(header_len) + 4,
            skipped: [false; 2],
        })
    }

    /// The next frame, `None` at the end of the file.
    fn next_frame(&mut self) -> anyhow::Result<Option<MediaFrame>> {
        loop {
            let mut head = [0u8; 11];
            match self.reader.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            let size = usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
            let timestamp = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
            let mut body = Vec::with_capacity(size + 4);
            (&mut self.reader).take(size as u64 + 4).read_to_end(&mut body)?;
            if body.len() < size {
                bail!("truncated FLV tag");
            }
            body.truncate(size); // drop PreviousTagSize
            self.read += 11 + size as u64 + 4;
            let body = Bytes::from(body);
            let (track, parsed) = match head[0] & 0x1f {
                8 => (0, parse_audio_tag(timestamp, &body)),
                9 => (1, parse_video_tag(timestamp, &body)),
                _ => continue,
            };
            if self.skipped[track] {
                continue;
            }
            // An unsupported codec or a malformed tag costs its track, not
            // the remux.
            let frame = parsed.unwrap_or_else(|e| {
                let name = ["audio", "video"][track];
                eprintln!("skipping the {name} track: tag at {timestamp} ms: {e}");
                self.skipped[track] = true;
                None
            });
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let file =
        std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
    let mut flv = FlvStream::open(BufReader::with_capacity(256 * 1024, file))?;
    std::fs::create_dir_all(&args.output).with_context(|| format!("creating {}", args.output.display()))?;

    // Segments go to a writer thread through a small bounded queue.
    let (tx, rx) = mpsc::sync_channel::<(PathBuf, Segment)>(4);
    let (give_back, recycled) = mpsc::sync_channel::<Vec<u8>>(4);
    let writer = std::thread::spawn(move || -> anyhow::Result<()> {
        for (path, segment) in rx {
            std::fs::write(&path, &segment.data).with_context(|| format!("writing {}", path.display()))?;
            // Unique by now: reclaimed without a copy. A full queue drops it.
            let _ = give_back.try_send(Vec::from(segment.data));
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
    while let Some(frame) = flv.next_frame()? {
        match segmenter.push(&frame) {
            Ok(Some(segment)) => {
                emit(segment, &mut playlist)?;
                while let Ok(buf) = recycled.try_recv() {
                    segmenter.recycle(buf);
                }
            }
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
        flv.read as f64 / 1e6,
        bytes_out as f64 / 1e6,
        dropped,
        elapsed.as_secs_f64()
    );
    Ok(())
}
