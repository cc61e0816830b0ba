//! The paced writers: a few threads, each owning a share of the publishers.
//! Every tick a thread writes each of its publishers the media that has
//! fallen due since its last tick, in one non-blocking `write`. A socket the
//! server does not drain fast enough takes less; what is left waits for the
//! next tick, and the publisher falls behind its schedule.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::client::Media;

/// One publisher as a writer thread sees it.
struct Paced {
    sock: TcpStream,
    /// When its media's timestamp 0 was due.
    start: Instant,
    /// Messages due so far.
    due: usize,
    /// Bytes of `Media::bytes` written so far.
    sent: usize,
    /// Largest lag seen while measuring.
    max_lag: Duration,
    closed: bool,
}

/// What became of one publisher.
pub struct PacedResult {
    /// Its largest lag behind schedule while measuring.
    pub max_lag: Duration,
    /// Closed by the server, or a write failed.
    pub closed: bool,
    /// Its media ended before the run did.
    pub finished: bool,
}

/// The writer threads.
pub struct Pacers {
    senders: Vec<mpsc::Sender<(TcpStream, Instant)>>,
    threads: Vec<std::thread::JoinHandle<Vec<PacedResult>>>,
    next: usize,
}

impl Pacers {
    /// Starts `threads` writers ticking every `tick`. Lags count while
    /// `measuring` is set; the threads return when `stop` is.
    pub fn start(
        threads: usize,
        tick: Duration,
        media: Arc<Media>,
        measuring: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel();
            let (media, measuring, stop) = (Arc::clone(&media), Arc::clone(&measuring), Arc::clone(&stop));
            handles.push(
                std::thread::Builder::new()
                    .name(format!("pacer-{n}"))
                    .spawn(move || run(&rx, tick, &media, &measuring, &stop))?,
            );
            senders.push(tx);
        }
        Ok(Self {
            senders,
            threads: handles,
            next: 0,
        })
    }

    /// Hands a publishing socket to a writer; its schedule starts now.
    pub fn adopt(&mut self, sock: TcpStream) {
        let i = self.next % self.senders.len();
        self.next += 1;
        // A writer only goes away after `stop`.
        let _ = self.senders[i].send((sock, Instant::now()));
    }

    /// Waits for the writers (after `stop` is set) and collects the results.
    pub fn join(self) -> Vec<PacedResult> {
        drop(self.senders);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    }
}

fn run(
    rx: &mpsc::Receiver<(TcpStream, Instant)>,
    tick: Duration,
    media: &Media,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Vec<PacedResult> {
    let mut pubs: Vec<Paced> = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut next_tick = Instant::now();
    let mut ticks: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        while let Ok((sock, start)) = rx.try_recv() {
            pubs.push(Paced {
                sock,
                start,
                due: 0,
                sent: 0,
                max_lag: Duration::ZERO,
                closed: false,
            });
        }
        let now = Instant::now();
        let measure = measuring.load(Ordering::Relaxed);
        // About once a second, drain what the servers sent (acknowledgements,
        // pings) and notice closed connections.
        let drain = ticks.is_multiple_of((1000 / tick.as_millis().max(1) as u64).max(1));
        for p in pubs.iter_mut().filter(|p| !p.closed) {
            step(p, now, media, measure);
            if drain && !p.closed {
                loop {
                    match p.sock.read(&mut scratch) {
                        Ok(0) => {
                            p.closed = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            p.closed = true;
                            break;
                        }
                    }
                }
            }
        }
        ticks += 1;
        next_tick += tick;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else {
            // Late: tick again at once, but do not try to catch up on the
            // ticks missed (a tick writes everything due anyway).
            next_tick = now;
        }
    }
    let total = media.bytes.len();
    pubs.into_iter()
        .map(|p| PacedResult {
            max_lag: p.max_lag,
            closed: p.closed,
            finished: p.sent == total,
        })
        .collect()
}

/// Writes what is due for `p` at `now`, and records its lag.
fn step(p: &mut Paced, now: Instant, media: &Media, measure: bool) {
    let elapsed = now.saturating_duration_since(p.start);
    let elapsed_ms = u32::try_from(elapsed.as_millis()).unwrap_or(u32::MAX);
    while p.due < media.ts.len() && media.ts[p.due] <= elapsed_ms {
        p.due += 1;
    }
    let target = if p.due == 0 { 0 } else { media.ends[p.due - 1] };
    if p.sent < target {
        match p.sock.write(&media.bytes[p.sent..target]) {
            Ok(n) => p.sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                p.closed = true;
                return;
            }
        }
    }
    if measure && p.sent < target {
        // The lag is how long ago the oldest unsent message fell due.
        let first_unsent = media.ends.partition_point(|&end| end <= p.sent);
        let due_at = Duration::from_millis(u64::from(media.ts[first_unsent]));
        p.max_lag = p.max_lag.max(elapsed.saturating_sub(due_at));
    }
}
