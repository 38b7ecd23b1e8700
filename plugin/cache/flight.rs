//! Single flight: one generation per key at a time, other callers wait for its outcome.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::cache::ClipCache;
use crate::cache::clip::CachedClip;
use crate::cache::key::ClipKey;

/// Where one key's generation (or disk read) stands.
enum State {
    /// The leader is still working.
    Running,
    /// The leader produced the clip.
    Done(Arc<CachedClip>),
    /// The leader failed, returned early or panicked; a waiter must take over.
    Failed,
}

/// One key's in-progress work, shared by its leader and its waiters.
pub(crate) struct Flight {
    /// The outcome so far.
    state: Mutex<State>,
    /// Signalled once when `state` leaves `Running`.
    settled: Condvar,
}

impl Flight {
    /// A flight whose leader has just started.
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::Running),
            settled: Condvar::new(),
        }
    }

    /// Blocks until the leader settles: `Some` clip on success, `None` if it failed.
    pub(crate) fn wait(&self) -> Option<Arc<CachedClip>> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                State::Running => self.settled.wait(&mut state),
                State::Done(clip) => return Some(Arc::clone(clip)),
                State::Failed => return None,
            }
        }
    }

    /// The clip if the leader already succeeded; never blocks on the leader.
    pub(crate) fn finished_clip(&self) -> Option<Arc<CachedClip>> {
        match &*self.state.lock() {
            State::Done(clip) => Some(Arc::clone(clip)),
            State::Running | State::Failed => None,
        }
    }

    /// Settles the flight (`None`: failed) and wakes every waiter. Only the first call counts.
    fn settle(&self, clip: Option<Arc<CachedClip>>) {
        let mut state = self.state.lock();
        if matches!(*state, State::Running) {
            *state = clip.map_or(State::Failed, State::Done);
            self.settled.notify_all();
        }
    }
}

/// Held by the one caller doing a key's work. Dropping it, on any path including a panic,
/// unregisters the flight and, unless [`Leader::succeed`] ran, marks it failed so that the
/// waiters never hang and one of them takes over.
pub(crate) struct Leader<'a> {
    /// The cache whose in-flight map holds the flight.
    cache: &'a ClipCache,
    /// The key being produced.
    key: ClipKey,
    /// The flight the waiters watch.
    flight: Arc<Flight>,
}

impl<'a> Leader<'a> {
    /// Leads `flight`, which the caller has just registered for `key` in `cache`.
    pub(crate) fn new(cache: &'a ClipCache, key: ClipKey, flight: Arc<Flight>) -> Self {
        Self { cache, key, flight }
    }

    /// Hands `clip` to the waiters now. The flight stays registered (later callers get the
    /// clip at once) until the guard drops, which the caller delays until the disk write ends.
    pub(crate) fn succeed(&self, clip: Arc<CachedClip>) {
        self.flight.settle(Some(clip));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        // NOTE: unregister first, then settle: a waiter woken by a failure must find no flight,
        // so that it becomes the new leader instead of waiting on the dead one again.
        self.cache.end_flight(&self.key, &self.flight);
        self.flight.settle(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    fn clip() -> Arc<CachedClip> {
        Arc::new(CachedClip {
            frames: vec![0.0; 3],
            frame_count: 1,
            width: 1,
            height: 1,
            fps: 24.0,
            summary: String::new(),
        })
    }

    #[test]
    fn waiters_get_the_first_outcome_only() {
        let flight = Arc::new(Flight::new());
        assert!(flight.finished_clip().is_none());
        let waiter = {
            let flight = Arc::clone(&flight);
            thread::spawn(move || flight.wait())
        };
        thread::sleep(Duration::from_millis(50));
        let c = clip();
        flight.settle(Some(Arc::clone(&c)));
        flight.settle(None);
        let got = waiter.join().unwrap().unwrap();
        assert!(Arc::ptr_eq(&got, &c));
        assert!(Arc::ptr_eq(&flight.finished_clip().unwrap(), &c));
    }

    #[test]
    fn failure_wakes_waiters_with_none() {
        let flight = Arc::new(Flight::new());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let flight = Arc::clone(&flight);
                thread::spawn(move || flight.wait())
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        flight.settle(None);
        for w in waiters {
            assert!(w.join().unwrap().is_none());
        }
        assert!(flight.finished_clip().is_none());
    }
}
