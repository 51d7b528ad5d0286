//! `conns --json`'s records written on a second thread, a batch behind the tracking.
//!
//! Writing a record's text is about a quarter of the core's work on a capture of one
//! request per connection (some 10,000 instructions for 1.4 KB). Here the tracker's
//! thread hands each batch's ended records (with their addresses' texts, looked up
//! under the GIL) to one writer thread for the scan's life, and takes back the texts
//! of the batch before: the writing runs while the next batch is decoded and tracked.
//! Only the finished records cross over, never segments or live connections (moving
//! the decoding over too was slower: every segment was then cold on the tracker's
//! core).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use crate::conns_json;
use crate::track::{Event, Record};

/// An event handed to the writer: a record with its client's and server's address
/// texts, or any other event (kept in its place).
pub enum Held {
    Record(Box<Record>, Arc<str>, Arc<str>),
    Other(Event),
}

/// What the writer made of a batch's events, in their order.
pub enum Piece {
    /// Consecutive records written.
    Texts(Run),
    /// A record beyond what the core writes (rendered in Python), or another event.
    Event(Event),
}

/// Consecutive records' texts joined by `conns --json`'s separator, how many, and
/// how many of each conn_state.
#[derive(Default)]
pub struct Run {
    pub text: String,
    pub count: usize,
    pub states: Vec<(&'static str, usize)>,
}

impl Run {
    /// The record's text written on to the run's; false where the core does not write
    /// it (the run is left as it was).
    pub fn add(&mut self, record: &Record, client: &str, server: &str) -> bool {
        let before = self.text.len();
        if self.count > 0 {
            self.text.push_str(conns_json::RECORD_SEPARATOR);
        }
        if !conns_json::record_into(&mut self.text, record, client, server) {
            self.text.truncate(before);
            return false;
        }
        let state = record.conn_state;
        self.count += 1;
        match self.states.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => self.states.push((state, 1)),
        }
        true
    }
}

/// One batch's events written: runs of texts, and the events between them.
fn write(batch: Vec<Held>) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut run = Run::default();
    for held in batch {
        let event = match held {
            Held::Record(record, client, server) => {
                if run.add(&record, &client, &server) {
                    continue;
                }
                Event::Finished(record)
            }
            Held::Other(event) => event,
        };
        if run.count > 0 {
            pieces.push(Piece::Texts(std::mem::take(&mut run)));
        }
        pieces.push(Piece::Event(event));
    }
    if run.count > 0 {
        pieces.push(Piece::Texts(run));
    }
    pieces
}

/// The writer thread, and the batches handed to it whose pieces are not taken back.
pub struct Writer {
    jobs: Option<Sender<Vec<Held>>>,
    done: Mutex<Receiver<Option<Vec<Piece>>>>, // a Python class must be Sync
    pending: usize,
}

impl Writer {
    /// The thread started; it ends when the Writer is dropped.
    pub fn start() -> std::io::Result<Writer> {
        let (jobs, incoming) = mpsc::channel::<Vec<Held>>();
        let (reply, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("pcapdiff-json".into())
            .spawn(move || {
                for batch in incoming {
                    // a panic is a bug: said once, and the thread's work ends there
                    let pieces = catch_unwind(AssertUnwindSafe(|| write(batch))).ok();
                    let failed = pieces.is_none();
                    if reply.send(pieces).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            done: Mutex::new(done),
            pending: 0,
        })
    }

    /// Hand a batch's events over; false if the thread is gone.
    pub fn send(&mut self, batch: Vec<Held>) -> bool {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(batch).is_ok());
        self.pending += usize::from(sent);
        sent
    }

    /// The pieces of the batches handed over, oldest first, waiting for them, but the
    /// newest `leave` (still being written). None: the thread failed (a bug).
    pub fn take(&mut self, leave: usize) -> Option<Vec<Vec<Piece>>> {
        let done = self.done.lock().ok()?;
        let mut out = Vec::new();
        while self.pending > leave {
            self.pending -= 1;
            out.push(done.recv().ok()??);
        }
        Some(out)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None; // the thread's loop ends with its last batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_batch_comes_back_in_order_with_its_events_in_place() {
        let mut writer = Writer::start().expect("a thread");
        for clock in 0..5 {
            let batch = vec![
                Held::Other(Event::Released(clock)),
                Held::Other(Event::Released(clock + 100)),
            ];
            assert!(writer.send(batch));
        }
        let first = writer.take(3).expect("two batches");
        assert_eq!(first.len(), 2);
        let rest = writer.take(0).expect("three more");
        let clocks: Vec<i128> = first
            .iter()
            .chain(&rest)
            .flatten()
            .map(|piece| match piece {
                Piece::Event(Event::Released(clock)) => *clock,
                _ => -1,
            })
            .collect();
        assert_eq!(clocks, [0, 100, 1, 101, 2, 102, 3, 103, 4, 104]);
        assert!(writer.take(0).expect("none left").is_empty());
    }
}
