//! Batched UDP I/O, shared by the serving loop ([`crate::server`]) and the
//! forwarder's upstream sockets ([`crate::forward`]): under load the
//! kernel's per-call and per-packet cost is most of an answer's CPU, so
//! both read and write by the batch.
//!
//! - [`recv`]: up to a batch of datagrams per `recvmmsg(2)`, into buffers
//!   held per thread rather than per socket.
//! - [`send`]: a batch per `sendmmsg(2)`, datagrams of one size to one peer
//!   joined into a UDP GSO message.
//! - [`outbox`]: datagrams queued by any task for the one that sends them.
//! - [`socket`]: a socket registered for reading only, so that a send does
//!   not wake the runtime for nothing.

pub(crate) mod outbox;
pub(crate) mod recv;
pub(crate) mod send;
pub(crate) mod socket;
