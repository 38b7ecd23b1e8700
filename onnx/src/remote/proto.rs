//! The KServe v2 messages and client stub, generated at build time from
//! `proto/kserve_v2.proto` (see build.rs).

#![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, missing_docs)]

tonic::include_proto!("inference");
