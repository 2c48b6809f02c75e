//! Captures for the offline commands and the load tester: framed streams
//! ([`stream`]), pcap/pcapng with TCP reassembly ([`pcap`]), and synthetic
//! traffic ([`gen`]). Not used by the proxy.

pub mod gen;
pub mod pcap;
pub mod source;
pub mod stream;
