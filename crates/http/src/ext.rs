//! Typed per-level settings of the modules (nginx's per-module loc and main confs), stored
//! by type so that the core needs to know nothing about them, and inherited block to block.

use std::any::{Any, TypeId};

/// A module's settings at one level (http, server, location).
pub trait ExtConf: Any + Clone + Default {
    /// Fills what this level left unset from its parent's settings of the same type (a
    /// level that has none of its own starts from `Default` and merges too, so settings
    /// that are not inherited stay unset there).
    fn merge(&mut self, parent: &Self)
    where
        Self: Sized;
}

/// Object-safe face of `ExtConf`.
pub trait ErasedExt: Any {
    fn merge_erased(&mut self, parent: &dyn ErasedExt);
    fn clone_erased(&self) -> Box<dyn ErasedExt>;
    /// A default value of the same type, merged from this one.
    fn inherit_erased(&self) -> Box<dyn ErasedExt>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: ExtConf> ErasedExt for T {
    fn merge_erased(&mut self, parent: &dyn ErasedExt) {
        if let Some(p) = parent.as_any().downcast_ref::<T>() {
            self.merge(p);
        }
    }
    fn clone_erased(&self) -> Box<dyn ErasedExt> {
        Box::new(self.clone())
    }
    fn inherit_erased(&self) -> Box<dyn ErasedExt> {
        let mut fresh = T::default();
        fresh.merge(self);
        Box::new(fresh)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[derive(Default)]
pub struct Extensions {
    items: Vec<(TypeId, Box<dyn ErasedExt>)>,
}

impl Clone for Extensions {
    fn clone(&self) -> Self {
        Extensions {
            items: self.items.iter().map(|(t, b)| (*t, b.clone_erased())).collect(),
        }
    }
}

impl Extensions {
    pub fn get<T: ExtConf>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.items
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.as_any().downcast_ref())
    }

    pub fn get_or_default<T: ExtConf>(&mut self) -> &mut T {
        let id = TypeId::of::<T>();
        let pos = match self.items.iter().position(|(t, _)| *t == id) {
            Some(p) => p,
            None => {
                self.items.push((id, Box::new(T::default())));
                self.items.len() - 1
            }
        };
        self.items[pos].1.as_any_mut().downcast_mut().expect("type id matches")
    }

    /// Inherits from the parent level: types set here merge, types absent here start from
    /// their default and merge.
    pub fn merge(&mut self, parent: &Extensions) {
        for (id, p) in &parent.items {
            match self.items.iter_mut().find(|(t, _)| t == id) {
                Some((_, mine)) => mine.merge_erased(p.as_ref()),
                None => self.items.push((*id, p.inherit_erased())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inherited as nginx merges: unset here, the parent's.
    #[derive(Clone, Default, Debug, PartialEq)]
    struct Inherited(Option<u32>);
    impl ExtConf for Inherited {
        fn merge(&mut self, parent: &Self) {
            self.0 = self.0.or(parent.0);
        }
    }

    /// A level's own (a content handler, a script): never inherited.
    #[derive(Clone, Default, Debug, PartialEq)]
    struct Own(Vec<u32>);
    impl ExtConf for Own {
        fn merge(&mut self, _parent: &Self) {}
    }

    #[test]
    fn a_level_without_settings_inherits_only_what_merges() {
        let mut parent = Extensions::default();
        parent.get_or_default::<Inherited>().0 = Some(7);
        parent.get_or_default::<Own>().0.push(1);
        let mut child = Extensions::default();
        child.merge(&parent);
        assert_eq!(child.get::<Inherited>(), Some(&Inherited(Some(7))));
        assert_eq!(child.get::<Own>(), Some(&Own(Vec::new())));
        let mut set_here = Extensions::default();
        set_here.get_or_default::<Inherited>().0 = Some(3);
        set_here.merge(&parent);
        assert_eq!(set_here.get::<Inherited>(), Some(&Inherited(Some(3))));
    }
}
