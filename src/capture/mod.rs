//! Captures for the offline commands and the load tester: framed streams
//! ([`stream`]), pcap/pcapng with TCP reassembly ([`pcap`]), and synthetic
//! traffic ([`gen`]); which flows, directions and times of a pcap a command
//! reads ([`select`]). Not used by the proxy.

pub mod gen;
pub mod pcap;
pub mod select;
pub mod source;
pub mod stream;
