//! netagent's DNS side.
pub mod answer;
pub mod handler;
pub mod qname;
pub mod response;
pub mod table;
pub mod upstream;
