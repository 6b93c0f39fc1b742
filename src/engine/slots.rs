//! The engine's connector slots, with a note of which ones were touched: every mutable access
//! to a slot marks it, so that publishing recomputes the views of those alone (#24: with 200
//! connectors, every change recomputed all 200 views).

use std::ops::{Deref, DerefMut, Index, IndexMut};

use super::Slot;

/// The slots in manifest order. Reading goes through `Deref` (`iter`, `len`, `get`); indexing
/// mutably marks one slot; any other mutable access (`push`, `retain`, `iter_mut`) marks all.
#[derive(Default)]
pub(super) struct Slots {
    v: Vec<Slot>,
    /// Slots touched since [`Slots::take_touched`], by index.
    touched: Vec<usize>,
    /// Everything may have changed (or moved).
    all: bool,
}

impl Slots {
    /// The slots touched since the last call (None: all of them, or their order changed),
    /// forgetting them.
    pub(super) fn take_touched(&mut self) -> Option<Vec<usize>> {
        let all = std::mem::take(&mut self.all);
        let mut touched = std::mem::take(&mut self.touched);
        if all {
            return None;
        }
        touched.sort_unstable();
        touched.dedup();
        touched.retain(|&i| i < self.v.len());
        Some(touched)
    }

    /// Slot `i`, mutably, without marking it (for what publishing itself derives).
    pub(super) fn unmarked(&mut self, i: usize) -> &mut Slot {
        &mut self.v[i]
    }
}

impl Deref for Slots {
    type Target = Vec<Slot>;
    fn deref(&self) -> &Vec<Slot> {
        &self.v
    }
}

impl DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut Vec<Slot> {
        self.all = true;
        &mut self.v
    }
}

impl Index<usize> for Slots {
    type Output = Slot;
    fn index(&self, i: usize) -> &Slot {
        &self.v[i]
    }
}

impl IndexMut<usize> for Slots {
    fn index_mut(&mut self, i: usize) -> &mut Slot {
        // Many small touches between two publishes: past a point, "all" is as good.
        if self.touched.len() < 4 * self.v.len().max(16) {
            self.touched.push(i);
        } else {
            self.all = true;
        }
        &mut self.v[i]
    }
}

impl<'a> IntoIterator for &'a Slots {
    type Item = &'a Slot;
    type IntoIter = std::slice::Iter<'a, Slot>;
    fn into_iter(self) -> Self::IntoIter {
        self.v.iter()
    }
}

impl<'a> IntoIterator for &'a mut Slots {
    type Item = &'a mut Slot;
    type IntoIter = std::slice::IterMut<'a, Slot>;
    fn into_iter(self) -> Self::IntoIter {
        self.all = true;
        self.v.iter_mut()
    }
}
