//! The engine's foundations: time arithmetic in local zones (DST-correct),
//! stable buckets, and the admission of sends under quiet hours and caps.
//! Pure functions of their inputs: no I/O, no wall clock, no global RNG.
//! The step function that interprets a `Program` builds on these.

pub mod admission;
pub mod bucket;
pub mod eval;
pub mod state;
pub mod step;
pub mod text;
pub mod time;
pub mod value;
