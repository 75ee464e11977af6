//! Buffers of finished requests kept for the next ones, per worker: a busy keepalive
//! connection then allocates nothing for its header list or its output buffer. Bounded
//! in count (and, by the caller's check, in size), so an idle worker holds little.

use std::cell::RefCell;

/// A worker-local stack of spare values (a `thread_local!` static).
pub struct Spares<T> {
    items: RefCell<Vec<T>>,
    keep: usize,
}

impl<T> Spares<T> {
    /// A stack that keeps at most `keep` values.
    pub const fn new(keep: usize) -> Self {
        Spares {
            items: RefCell::new(Vec::new()),
            keep,
        }
    }

    /// A spare value, if one is kept.
    pub fn take(&self) -> Option<T> {
        self.items.borrow_mut().pop()
    }

    /// Keeps `value` for a later `take`, unless the stack is full.
    pub fn give(&self, value: T) {
        let mut items = self.items.borrow_mut();
        if items.len() < self.keep {
            items.push(value);
        }
    }
}

impl<E> Spares<Vec<E>> {
    /// Keeps `list`, emptied, for a later `take` when it has room for at most `most`
    /// elements (an unusually large one goes, so that an idle worker holds little).
    pub fn give_emptied(&self, mut list: Vec<E>, most: usize) {
        if list.capacity() > 0 && list.capacity() <= most {
            list.clear();
            self.give(list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Spares;

    #[test]
    fn lists_are_kept_emptied_and_only_of_usual_size() {
        let s = Spares::new(4);
        s.give_emptied(vec![1, 2, 3], 8);
        s.give_emptied(Vec::with_capacity(100), 8);
        s.give_emptied(Vec::new(), 8);
        let kept = s.take().unwrap();
        assert!(kept.is_empty() && kept.capacity() >= 3);
        assert!(s.take().is_none(), "the large one and the empty one were not kept");
    }

    #[test]
    fn keeps_at_most_its_bound() {
        let s = Spares::new(2);
        for v in [1, 2, 3] {
            s.give(v);
        }
        assert_eq!((s.take(), s.take(), s.take()), (Some(2), Some(1), None));
    }
}
