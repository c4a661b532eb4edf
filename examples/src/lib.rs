//! Code the example programs and their tests share: [`acquirer`], a real-shaped acquirer
//! connector implementing the gateway's `Processor` seam.

pub mod acquirer;
