"""Serves a Triton model repository's ONNX graphs with MLServer, for the remote backend's tests.

    python serve_mlserver.py REPO --grpc-port P [--http-port H] [--max-message-bytes N] \
        --workdir W [--exit-with-stdin] [--verbose]

REPO is a Triton model repository as `promptreel triton-repo` writes it: REPO/<model>/config.pbtxt
and REPO/<model>/1/model.onnx (possibly a symlink; external-data files next to it). Every folder
with a 1/model.onnx is served under its folder's name, version "1", by the OnnxGraph runtime of
promptreel_mlserver.py. config.pbtxt is not read: the runtime takes everything from the graph.

The launcher writes W/settings.json, W/<model>/model-settings.json and a copy of the runtime
module into W (so that `mlserver start W` serves the same models by hand), then runs MLServer
in this process, in the foreground: killing this PID (even with SIGKILL) leaves nothing behind,
as parallel_workers is 0 (no worker processes). SIGTERM or SIGINT stop it gracefully.
--exit-with-stdin also ends it when its standard input reaches end of file, so a caller that
keeps the write end of a pipe open takes the server down with it when it dies in any way.

Every graph is loaded before the ports open: MLServer answers ServerReady with "every model it
knows is ready", which is true while it knows none yet, so a server that opened first could
claim to be ready with its models still loading. Poll the gRPC ServerReady RPC to know when it
serves; one line goes to stderr when the gRPC port is open. All logging goes to stderr (MLServer
logs to stdout by default); only warnings and errors unless --verbose.
"""

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import threading

RUNTIME = "promptreel_mlserver"  # the module next to this file
GRPC_MAX = 2147483647  # gRPC's own ceiling (INT_MAX), as Triton's 2 GiB


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("repo", help="Triton model repository: REPO/<model>/1/model.onnx")
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--http-port", type=int, default=0,
                   help="MLServer always opens HTTP too; default 0, a free port the OS picks")
    p.add_argument("--max-message-bytes", type=int, default=GRPC_MAX,
                   help=f"largest gRPC message either way (default and most: {GRPC_MAX})")
    p.add_argument("--workdir", required=True, help="where the settings files go (created)")
    p.add_argument("--exit-with-stdin", action="store_true",
                   help="also stop when standard input reaches end of file")
    p.add_argument("--verbose", action="store_true", help="log at INFO, not WARNING")
    args = p.parse_args(argv)
    if not 0 < args.max_message_bytes <= GRPC_MAX:
        p.error(f"--max-message-bytes must be between 1 and {GRPC_MAX}")
    return args


def find_models(repo):
    """{name: absolute path of REPO/name/1/model.onnx} for every model folder of REPO."""
    if not os.path.isdir(repo):
        sys.exit(f"serve_mlserver: {repo} is not a folder")
    models = {}
    for name in sorted(os.listdir(repo)):
        graph = os.path.join(repo, name, "1", "model.onnx")
        if os.path.lexists(graph):
            if not os.path.exists(graph):
                sys.exit(f"serve_mlserver: {graph} is a broken symlink")
            models[name] = os.path.abspath(graph)  # not realpath: sidecars sit next to the link
    if not models:
        sys.exit(f"serve_mlserver: no <model>/1/model.onnx in {repo}")
    return models


def write_json(path, value):
    with open(path + ".part", "w") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".part", path)


def write_workdir(args, models):
    work = os.path.abspath(args.workdir)
    os.makedirs(work, exist_ok=True)
    level = "INFO" if args.verbose else "WARNING"
    # MLServer applies this dictConfig to its loggers and hands it to uvicorn (the HTTP server).
    logging_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s [%(name)s] %(levelname)s %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "plain"}},
        "loggers": {
            "mlserver": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"level": "WARNING"},
        },
    }
    write_json(os.path.join(work, "settings.json"), {
        "host": "127.0.0.1",  # MLServer listens on 0.0.0.0 otherwise
        "grpc_port": args.grpc_port,
        "http_port": args.http_port,  # 0: uvicorn binds a free port
        "grpc_max_message_length": args.max_message_bytes,  # send and receive, server side
        "parallel_workers": 0,  # infer in this process: no worker processes to orphan
        "metrics_endpoint": None,  # no metrics server (it would open port 8082)
        "debug": False,  # no access logs
        "load_models_at_startup": True,
        "environments_dir": os.path.join(work, ".envs"),
        "metrics_dir": os.path.join(work, ".metrics"),
        "logging_settings": logging_config,
    })
    # MLServer serves every model-settings.json under W: drop those of models REPO no longer has.
    for name in os.listdir(work):
        stale = os.path.join(work, name, "model-settings.json")
        if name not in models and os.path.isfile(stale):
            os.remove(stale)
    for name, graph in models.items():
        folder = os.path.join(work, name)
        os.makedirs(folder, exist_ok=True)
        write_json(os.path.join(folder, "model-settings.json"), {
            "name": name,
            "implementation": f"{RUNTIME}.OnnxGraph",
            "platform": "onnxruntime_onnx",  # what Triton reports for an ONNX model
            "versions": ["1"],
            "parameters": {"uri": graph, "version": "1"},  # version "" and "1" both find it
        })
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copyfile(os.path.join(here, RUNTIME + ".py"), os.path.join(work, RUNTIME + ".py"))
    return work


async def announce_when_open(port, names):
    """One line on stderr once the gRPC port takes connections."""
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        print(f"serve_mlserver: serving {', '.join(names)} on gRPC 127.0.0.1:{port}",
              file=sys.stderr, flush=True)
        return


async def serve(work, grpc_port):
    from mlserver import MLServer
    from mlserver.cli.serve import load_settings

    settings, models_settings = await load_settings(work)  # what `mlserver start W` reads
    # gRPC sets SO_REUSEPORT by default, so a second server given the same port would bind it as
    # well and share its connections. Without it, a port clash fails to start (exit status 1):
    # a caller that picked a port another test took retries with another. MLServer has no
    # setting for it, only this private one (which it warns about; the warning is dropped).
    settings._custom_grpc_server_settings = {"grpc.so_reuseport": 0}
    logging.getLogger("mlserver.grpc").addFilter(
        lambda record: "custom configuration is out of support" not in record.getMessage())
    server = MLServer(settings)  # installs its SIGINT/SIGTERM/SIGQUIT handlers on this loop
    # Load every graph first (a failure ends the launcher here, before any port opens), then
    # open the ports with nothing left to load.
    for model_settings in models_settings:
        try:
            await server._model_registry.load(model_settings)
        except Exception as err:
            sys.exit(f"serve_mlserver: could not load model '{model_settings.name}': {err}")
    names = sorted(m.name for m in models_settings)
    announce = asyncio.ensure_future(announce_when_open(grpc_port, names))
    try:
        await server.start([])
    finally:
        announce.cancel()


def exit_at_stdin_eof():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except OSError:
        pass
    print("serve_mlserver: standard input closed; stopping", file=sys.stderr, flush=True)
    os._exit(0)  # nothing to clean up: no child processes, no files that matter


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    models = find_models(args.repo)
    work = write_workdir(args, models)
    if args.exit_with_stdin:
        threading.Thread(target=exit_at_stdin_eof, daemon=True).start()

    from mlserver.utils import install_uvloop_event_loop

    # As `mlserver start` does. MLServer sets its loggers up from settings.json (all to stderr).
    logging.getLogger("mlserver").setLevel(logging.INFO if args.verbose else logging.WARNING)
    install_uvloop_event_loop()
    asyncio.run(serve(work, args.grpc_port))


if __name__ == "__main__":
    main()
