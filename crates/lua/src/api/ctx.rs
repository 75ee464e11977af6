//! `ngx.ctx`: a Lua table per request, shared by its phases. The Lua wrapper keeps the
//! tables in one array and the request keeps its slot (`CtxRef`), as lua-resty-core
//! does; a finished request's slot is reused by a later one.

use std::cell::RefCell;

/// The request's slot in the wrapper's array of ctx tables.
pub struct CtxRef(pub i32);

thread_local! {
    static FREE: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

impl Drop for CtxRef {
    fn drop(&mut self) {
        FREE.with(|f| f.borrow_mut().push(self.0));
    }
}

pub fn take_free() -> Option<i32> {
    FREE.with(|f| f.borrow_mut().pop())
}
