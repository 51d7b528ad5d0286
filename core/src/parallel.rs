//! Work cut in parts, done on threads of their own where the machine has cores to
//! spare: compare's end (its last pairs judged, its last verdicts written) runs while
//! the readers are done and the other cores idle.

use std::panic::resume_unwind;
use std::sync::{Mutex, PoisonError};
use std::thread::{available_parallelism, Builder};

/// How many parts `items` things make, at least `per_thread` a part, one per core.
pub fn parts_for(items: usize, per_thread: usize) -> usize {
    let cores = available_parallelism().map_or(1, |n| n.get());
    cores.min(items / per_thread.max(1)).max(1)
}

/// `work` of each part, in the parts' order: the first on this thread, each other on
/// a thread of its own, or on this one where no thread can be started (a process
/// at its limit of threads still gets its answer). A part's panic is raised here.
pub fn in_parts<I, O, F>(parts: Vec<I>, work: F) -> Vec<O>
where
    I: Send,
    O: Send,
    F: Fn(I) -> O + Sync,
{
    let slots: Vec<Mutex<Option<I>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    // a part is taken once, by its thread or by this one
    let take = |i: usize| {
        let slot = slots.get(i)?;
        slot.lock().unwrap_or_else(PoisonError::into_inner).take()
    };
    let (take, work) = (&take, &work);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (1..slots.len())
            .map(|i| {
                Builder::new()
                    .spawn_scoped(scope, move || take(i).map(work))
                    .ok()
            })
            .collect();
        let mut out = Vec::with_capacity(slots.len());
        out.extend(take(0).map(work));
        for (i, thread) in (1..).zip(threads) {
            let done = thread.and_then(|t| t.join().unwrap_or_else(|p| resume_unwind(p)));
            out.extend(done.or_else(|| take(i).map(work)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_in_order_each_done_once() {
        let done = Mutex::new(Vec::new());
        let parts: Vec<Vec<u32>> = (0..7).map(|p| (p * 10..p * 10 + 10).collect()).collect();
        let sums = in_parts(parts, |part| {
            done.lock().unwrap().push(part[0]);
            part.iter().sum::<u32>()
        });
        assert_eq!(sums, (0..7).map(|p| 100 * p + 45).collect::<Vec<_>>());
        let mut firsts = done.into_inner().unwrap();
        firsts.sort_unstable();
        assert_eq!(firsts, (0..7).map(|p| p * 10).collect::<Vec<_>>());
        assert!(in_parts(Vec::<u8>::new(), |x| x).is_empty());
    }

    #[test]
    fn a_part_that_panics_is_raised_to_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            in_parts(vec![1, 2, 3], |x| {
                assert_ne!(x, 3, "part three fails");
                x
            })
        });
        assert!(caught.is_err());
    }

    #[test]
    fn one_part_a_core_at_most_and_never_none() {
        let cores = available_parallelism().map_or(1, |n| n.get());
        assert_eq!(parts_for(0, 100), 1);
        assert_eq!(parts_for(99, 100), 1);
        assert_eq!(parts_for(1_000_000, 100), cores);
        assert_eq!(parts_for(5, 0), cores.min(5));
    }
}
