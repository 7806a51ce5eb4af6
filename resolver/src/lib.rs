//! netagent's DNS side.
pub mod answer;
pub mod qname;
pub mod table;
