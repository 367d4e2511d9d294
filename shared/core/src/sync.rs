//! The one poison-tolerant lock: a caches' or a double's mutex whose holder
//! panicked still holds consistent data (each critical section is one
//! insert, read or swap), so the next caller takes it instead of panicking.
use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
