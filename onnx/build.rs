//! Generates the KServe v2 gRPC client (src/remote/) from our own proto/kserve_v2.proto, with
//! the protoc that protoc-bin-vendored ships, so no system protobuf compiler is needed.

fn main() {
    println!("cargo:rerun-if-changed=proto/kserve_v2.proto");
    let protoc = match protoc_bin_vendored::protoc_bin_path() {
        Ok(p) => p,
        Err(e) => panic!("no vendored protoc for this build machine: {e}"),
    };
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // Tensor bytes as `Bytes`: a retried call resends its inputs without copying them.
    config.bytes([
        ".inference.ModelInferRequest.raw_input_contents",
        ".inference.ModelInferResponse.raw_output_contents",
    ]);
    if let Err(e) = tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(config, &["proto/kserve_v2.proto"], &["proto"])
    {
        panic!("could not generate the KServe v2 client from proto/kserve_v2.proto: {e}");
    }
}
