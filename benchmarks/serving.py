"""Serving benchmark (`make bench-serving`): ways to score the same model and rows, side by side.

Starts its own MLflow and Triton (free ports, a temporary runtime folder), runs two real pipeline
cycles on generated data (v1 = champion, v2 = challenger, the same Ludwig config), then measures:

  a. in-process ``LudwigModel.predict``; and the floor of the served path in the same run: the exported
     graph on ONNX Runtime in-process (``a_inprocess_onnx_runtime``) and Ludwig's tensor fast path
     (``a_inprocess_tensor_path``), one thread each, columns prepared as Triton hands them over
  b. Triton router, champion only (what clients call: no version named, no challenger deployed),
     over HTTP and over gRPC
  c. Triton router with the challenger deployed and 100 % shadow mirroring, HTTP and gRPC
  d. ``mlflow models serve`` of the same registered model (``--env-manager local``)
  e. naive scoring: one HTTP request per row through the convenience client (DataFrame in)
  f. dynamic batching: 8 clients sending single-row requests at once; rows/s and the versions model's
     rows per execution from Triton's statistics

then the memory of a stack of three models (each two exported versions behind a router) and one version
on the Ludwig path beside them: RSS of every Triton Python stub (from ``/proc``), and the seconds from
load to ready of a fresh exported version and of a fresh Ludwig-path version.

plus, for reference, the versions model called directly with a version (no router hop).
For each: single-row p50/p99 latency over sequential requests built beforehand (as a production
client sends them, so the figure is the server round trip; b and c alternate in blocks of requests
on one warm server, two routers over the same versions, so slow drift of this shared machine
cannot favour either), and batch throughput in rows/s of sequential requests of ``--batch`` rows: request
building included (``rows_per_s``) and requests built beforehand (``server_rows_per_s``, the server's share, the
figure the 150k target reads). Results:
``benchmarks/results/serving.json``; ``--only b,c`` runs a subset while tuning.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import requests
import yaml

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import REPO_ROOT, Settings, triton_endpoint
from champion_challenger.cycle import transitions
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.serving_deployment import sync_serving
from champion_challenger.cycle.training import train_challenger_in_process
from champion_challenger.data.generate import BatchSpec, generate_batch, write_batches
from champion_challenger.serving.pending_counts import PUBLISH_LAG_S
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.serving.triton_metrics import parse_counters
from champion_challenger.serving.triton_repository import MAX_QUEUE_DELAY_US
from champion_challenger.stack.local import mlflow_service, triton
from champion_challenger.stack.processes import ServiceProcess, free_port
from champion_challenger.training.pyfunc import positive_probability

RESULTS = REPO_ROOT / "benchmarks" / "results" / "serving.json"
CANDIDATE = "churn_mlp"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=500, help="sequential single-row requests per scenario")
    parser.add_argument("--rows", type=int, default=20000, help="rows scored for throughput")
    parser.add_argument("--batch", type=int, default=4096, help="rows per request for throughput")
    parser.add_argument("--naive-rows", type=int, default=1000, help="rows scored one request each in scenario e")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", default=None, help="comma-separated scenario letters/names to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    home = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
    try:
        results = run(home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {args.out}")
    return 0


def run(home: Path, args) -> dict:
    reference_before = cpu_reference_ms()
    settings = bench_settings(home, args.epochs)
    services = [mlflow_service(settings), triton(settings)]
    for service in services:
        service.start(timeout_s=180)
    try:
        pipe = CycleContext(
            PipelineConfig.from_yaml(settings.pipeline_config), settings, settings.mlflow_tracking_uri, settings.triton_url
        )
        two_cycles(pipe)
        rows = generate_batch(BatchSpec(50, args.rows, 99, False))
        rows["customer_id"] = [f"bench-{i}" for i in range(len(rows))]
        scenarios = measure_all(pipe, rows, args)
        memory = model_stack_memory(pipe) if args.only is None or "memory" in args.only else None
    finally:
        for service in reversed(services):
            service.stop()
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "cpu_reference_ms": {"before": reference_before, "after": cpu_reference_ms()}},
        "model": f"{CANDIDATE} ({args.epochs} epochs), registered v1 champion, v2 challenger",
        "single_row_requests": args.single,
        "throughput_rows": args.rows,
        "batch_rows": args.batch,
        "scenarios": scenarios,
        "model_stack": memory,
        "targets": targets(scenarios, memory),
    }


def bench_settings(home: Path, epochs: int) -> Settings:
    configs = home / "configs"
    (configs / "ludwig").mkdir(parents=True)
    ludwig = yaml.safe_load((REPO_ROOT / "configs" / "ludwig" / f"{CANDIDATE}.yaml").read_text())
    ludwig["trainer"]["epochs"] = epochs
    (configs / "ludwig" / f"{CANDIDATE}.yaml").write_text(yaml.safe_dump(ludwig))
    pipeline = yaml.safe_load((REPO_ROOT / "configs" / "pipelines" / "churn_classifier.yaml").read_text())
    pipeline["training"].update(ludwig_configs=[f"ludwig/{CANDIDATE}.yaml"], window_batches=4)
    pipeline["serving"].update(shadow_fraction=1.0, canary_fraction=0.0)
    (configs / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    mlflow_port = free_port()
    return Settings(
        home=home / "home",
        pipelines=configs / "pipeline.yaml",
        mlflow_tracking_uri=f"http://127.0.0.1:{mlflow_port}",
        triton_url=f"127.0.0.1:{free_port()}",
        triton_grpc_port=free_port(),
        triton_metrics_port=free_port(),
        airflow_port=free_port(),
        mlflow_port=mlflow_port,
    )


def two_cycles(pipe: CycleContext) -> None:
    """v1 trained, registered and promoted; v2 trained and registered as the challenger."""
    for cycle, start in (("bench-1", 0), ("bench-2", 4)):
        write_batches(pipe.store.landing, 4, start=start, seed=7, rows=1500)
        if train_challenger_in_process(pipe, cycle) == 1:
            transitions.promote(pipe, 1, "bench", "benchmark champion")


def measure_all(pipe: CycleContext, rows: pd.DataFrame, args) -> dict:
    from ludwig.api import LudwigModel

    features = pipe.schema.feature_names
    local = Path(tempfile.mkdtemp(dir=pipe.settings.home))
    model_uri = f"models:/{pipe.model_name}/1"
    import mlflow

    from champion_challenger.training.pyfunc import ludwig_dir_in

    downloaded = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(local)))
    ludwig_dir = ludwig_dir_in(downloaded)
    model = LudwigModel.load(str(ludwig_dir), backend="local", logging_level=logging.ERROR)
    client = TritonModelClient(pipe.triton_url)
    http = RawTriton(pipe, "http")
    grpc = RawTriton(pipe, "grpc")
    keys = rows["customer_id"]
    wanted = set(args.only.split(",")) if args.only else None
    out = {}

    def run(name: str, *a) -> None:
        if wanted is None or name.split("_")[0] in wanted or name in wanted:
            out[name] = scenario(*a, rows=rows, args=args)

    def ludwig(frame):
        return positive_probability(model.predict(frame[features], return_type=pd.DataFrame)[0], pipe.schema.target)

    run("a_inprocess_ludwig_predict", "in-process LudwigModel.predict on a DataFrame", _same, ludwig)
    floor = InProcessFloor(pipe, downloaded, features)
    run(
        "a_inprocess_onnx_runtime",
        "in-process ONNX Runtime on the exported graph, 1 thread, columns prepared beforehand (the served path's floor)",
        floor.columns,
        floor.onnx,
    )
    run(
        "a_inprocess_tensor_path",
        "in-process Ludwig tensor fast path (the Ludwig-path versions' scorer), 1 torch thread, columns prepared",
        floor.columns,
        floor.tensor_path,
    )

    # b and c side by side on one warm server: two routers over the same versions model, one
    # answering with the champion alone, one also mirroring every row to the challenger; their
    # single-row requests alternate in blocks, so the machine's slow latency drift hits both alike.
    sync_serving(pipe, [1, 2])  # challenger deployed: the pipeline's router mirrors every row to it
    shadow_router, alone = pipe.model_name, champion_only_router(pipe)
    before = shadow_counters(pipe)
    if wanted is None or {"b", "c"} & wanted:
        for protocol, client_ in (("http", http), ("grpc", grpc)):
            suffix = "" if protocol == "http" else "_grpc"
            interleaved = alternate(client_, {"b": alone, "c": shadow_router}, rows, keys, args)
            for letter, name, description in (
                (
                    "b",
                    "b_triton_router_champion_only",
                    f"Triton router over {protocol.upper()} (no version named), champion only",
                ),
                (
                    "c",
                    "c_triton_router_shadow_100pct",
                    f"Triton router over {protocol.upper()}, 100 % of rows mirrored to the challenger",
                ),
            ):
                router = alone if letter == "b" else shadow_router
                out[name + suffix] = {
                    "description": description,
                    **percentiles(interleaved[letter]),
                    **batch_throughput(
                        lambda f, r=router, c=client_: c.prepare(r, f, keys.loc[f.index]), client_.send, rows, args
                    ),
                }
    run(
        "direct_versions_model",
        "Triton versions model with version=1 over HTTP (no router hop), for reference",
        lambda f: http.prepare(pipe.versions_model, f, version=1),
        http.send,
    )
    if wanted is None or "f" in wanted:
        out["f_dynamic_batching_8_clients"] = concurrent_singles(pipe, http, rows, keys, clients=8, seconds=10)
    time.sleep(3)
    if "c_triton_router_shadow_100pct" in out:
        after = shadow_counters(pipe)
        out["c_triton_router_shadow_100pct"]["shadow"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}

    if wanted is None or "d" in wanted:
        with MlflowServe(pipe, model_uri) as url:
            run(
                "d_mlflow_models_serve",
                "mlflow models serve (--env-manager local), JSON dataframe_split over HTTP",
                lambda f: mlflow_payload(f[features]),
                lambda payload: mlflow_post(url, payload),
            )

    if wanted is None or "e" in wanted:
        naive_rows = rows.head(args.naive_rows)
        latencies = timed(
            [naive_rows.iloc[[i]] for i in range(len(naive_rows))],
            lambda f: client.score(pipe.model_name, f, pipe.schema, keys.loc[f.index]),
        )
        out["e_naive_one_request_per_row"] = {
            "description": f"naive client: one HTTP request per row through TritonModelClient.score (DataFrame "
            f"conversion and a metadata call each time), {len(naive_rows)} rows in sequence",
            **percentiles(latencies),
            "rows_per_s": round(len(latencies) / (sum(latencies) / 1000), 1),
        }
    return out


class InProcessFloor:
    """The champion's exported graph and Ludwig tensor path in this process: what a served row costs without Triton."""

    def __init__(self, pipe: CycleContext, model_dir: Path, features: list[str]) -> None:
        import torch

        from champion_challenger.serving.fast_predictor import TensorPredictor
        from champion_challenger.serving.onnx_scoring import OnnxScorer
        from champion_challenger.training.pyfunc import ludwig_dir_in, serving_dir_in

        torch.set_num_threads(1)
        exported = serving_dir_in(model_dir)
        assert exported is not None and (exported / "model.onnx").exists(), "v1 was not exported to ONNX"
        spec = [{"name": f.name, "numeric": f.is_numeric} for f in pipe.schema.features]
        self.scorer = OnnxScorer(exported / "model.onnx", spec, threads=1)
        self.fast = TensorPredictor.load(ludwig_dir_in(model_dir))
        self.numeric = {f.name: f.is_numeric for f in pipe.schema.features}
        self.features = features

    def columns(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Columns as Triton hands them to a model: FP32 numbers, text as bytes."""
        return {
            n: frame[n].to_numpy(dtype=np.float32)
            if self.numeric[n]
            else np.array([str(v).encode() for v in frame[n]], dtype=object)
            for n in self.features
        }

    def onnx(self, columns: dict) -> np.ndarray:
        return self.scorer.task_outputs("binary", columns).scores

    def tensor_path(self, columns: dict) -> np.ndarray:
        return self.fast.predict_proba(columns)


def concurrent_singles(
    pipe: CycleContext, http: RawTriton, rows: pd.DataFrame, keys: pd.Series, clients: int, seconds: float
) -> dict:
    """``clients`` threads sending single-row requests to the pipeline's router for ``seconds``: rows/s, and the
    versions model's average batch per execution from Triton's statistics (dynamic batching at work)."""
    import threading

    import tritonclient.http as httpclient

    stop, counts, latencies = threading.Event(), [0] * clients, [[] for _ in range(clients)]

    def client_loop(i: int) -> None:
        client = RawTriton(pipe, "http")
        client.client = httpclient.InferenceServerClient(pipe.triton_url)
        requests_ = [client.prepare(pipe.model_name, rows.iloc[[j]], keys.iloc[[j]]) for j in range(i * 50, i * 50 + 50)]
        k = 0
        while not stop.is_set():
            start = time.perf_counter()
            client.send(requests_[k % len(requests_)])
            latencies[i].append((time.perf_counter() - start) * 1000)
            counts[i] += 1
            k += 1

    before = _batch_stats(http, pipe.versions_model)
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    after = _batch_stats(http, pipe.versions_model)
    inferences, executions = after[0] - before[0], after[1] - before[1]
    return {
        "description": f"{clients} HTTP clients sending single-row requests to the router at once for {seconds:.0f} s "
        f"(Triton's dynamic batching, max_queue_delay {MAX_QUEUE_DELAY_US} us)",
        **percentiles([x for per_client in latencies for x in per_client]),
        "rows_per_s": round(sum(counts) / elapsed, 1),
        "versions_model_rows_per_execution": round(inferences / executions, 2) if executions else None,
    }


def _batch_stats(http: RawTriton, model: str) -> tuple[int, int]:
    """(inference count, execution count) summed over the model's versions."""
    stats = http.client.get_inference_statistics(model)["model_stats"]
    return sum(int(s.get("inference_count", 0)) for s in stats), sum(int(s.get("execution_count", 0)) for s in stats)


def model_stack_memory(pipe: CycleContext) -> dict:
    """A stack of three models (the pipeline's and two more with the same versions, each two exported versions
    behind a router), plus one model serving v1 by the Ludwig path for comparison: RSS of each Triton Python
    stub and the load-until-ready seconds of a fresh exported and a fresh Ludwig-path version."""
    from champion_challenger.serving import triton_repository
    from champion_challenger.serving.routing import RoutingTable
    from champion_challenger.training.pyfunc import ludwig_dir_in, serving_dir_in

    repository = pipe.settings.triton_repository
    local = Path(tempfile.mkdtemp(dir=pipe.settings.home))
    downloaded = {}
    import mlflow

    for version in (1, 2):
        folder = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{pipe.model_name}/{version}", dst_path=str(local / str(version))
            )
        )
        downloaded[version] = (ludwig_dir_in(folder), serving_dir_in(folder))
    loads = {}
    for name in ("bench_b", "bench_c"):
        versions = triton_repository.versions_model_name(name)
        for version, (ludwig_dir, serving_dir) in downloaded.items():
            triton_repository.export_version(repository, versions, version, ludwig_dir, serving_dir)
        triton_repository.write_model_config(repository, versions, [1])
        loads.setdefault("exported_version_load_s", _timed_load(pipe, versions, [1]))
        triton_repository.write_model_config(repository, versions, [1, 2])
        _timed_load(pipe, versions, [1, 2])
        served = triton_repository.served_signature(repository, versions, [1, 2])
        triton_repository.write_router(repository, name, served, RoutingTable(versions, champion=1, challenger=2))
        _timed_load(pipe, name, [1])
    ludwig_versions = triton_repository.versions_model_name("bench_ludwig")
    triton_repository.export_version(repository, ludwig_versions, 1, downloaded[1][0])
    triton_repository.write_model_config(repository, ludwig_versions, [1])
    loads["ludwig_path_version_load_s"] = _timed_load(pipe, ludwig_versions, [1])
    stubs = _stub_rss_mb(repository)
    exported = [mb for (model, _), mb in stubs.items() if model.endswith("_versions") and model != ludwig_versions]
    # the benchmark's own champion-only router is not part of the three-model stack
    routers = [mb for (model, _), mb in stubs.items() if not model.endswith(("_versions", "_champion_only"))]
    ludwig_path = [mb for (model, _), mb in stubs.items() if model == ludwig_versions]
    return {
        "description": "3 models x 2 exported versions + 3 routers, and 1 Ludwig-path version beside them",
        "stubs": {f"{m} v{v}": mb for (m, v), mb in sorted(stubs.items())},
        "exported_version_rss_mb_max": max(exported) if exported else None,
        "router_rss_mb_max": max(routers) if routers else None,
        "ludwig_path_version_rss_mb": ludwig_path[0] if ludwig_path else None,
        "stack_of_three_rss_mb": round(sum(exported) + sum(routers), 1),
        **loads,
    }


def _timed_load(pipe: CycleContext, model: str, versions: list[int]) -> float:
    start = time.perf_counter()
    pipe.triton.load(model)
    pipe.triton.wait_ready(model, versions)
    return round(time.perf_counter() - start, 2)


def _stub_rss_mb(repository: Path) -> dict[tuple[str, str], float]:
    """RSS (MB) of each Triton Python-backend stub process, keyed by (model, version) from its ``model.py`` path."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if not args or not args[0].endswith(b"triton_python_backend_stub"):
            continue
        model_py = Path(args[1].decode())
        rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        if repository in model_py.parents:
            out[(model_py.parent.parent.name, model_py.parent.name)] = round(rss_kb / 1024, 1)
    return out


def _same(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


class RawTriton:
    """Pre-built Triton requests, as a production client sends them: single-row latency then measures
    the server round trip, not the client's DataFrame conversion."""

    def __init__(self, pipe: CycleContext, protocol: str) -> None:
        import tritonclient.grpc as grpcclient
        import tritonclient.http as httpclient

        self.module = httpclient if protocol == "http" else grpcclient
        url = pipe.triton_url if protocol == "http" else triton_endpoint(pipe.triton_url, pipe.settings.triton_grpc_port)
        self.client = self.module.InferenceServerClient(url)
        self.schema = pipe.schema

    def prepare(self, model: str, frame: pd.DataFrame, keys: pd.Series | None = None, version: int | None = None):
        """The request for ``frame``: (model, inputs, outputs, version)."""
        inputs = []
        columns = [
            (
                f.name,
                frame[f.name].to_numpy(dtype=np.float32) if f.is_numeric else frame[f.name].astype(str).to_numpy(dtype=object),
            )
            for f in self.schema.features
        ]
        if keys is not None:
            columns.append(("entity_key", keys.astype(str).to_numpy(dtype=object)))
        for name, values in columns:
            values = values.reshape(-1, 1)
            tensor = self.module.InferInput(name, list(values.shape), "FP32" if values.dtype == np.float32 else "BYTES")
            tensor.set_data_from_numpy(values)
            inputs.append(tensor)
        outputs = [self.module.InferRequestedOutput("probability")]
        return model, inputs, outputs, "" if version is None else str(version)

    def send(self, request) -> np.ndarray:
        model, inputs, outputs, version = request
        return self.client.infer(model, inputs, outputs=outputs, model_version=version).as_numpy("probability")


def scenario(description: str, prepare: Callable, send: Callable, rows: pd.DataFrame, args) -> dict:
    """Single-row p50/p99 of ``send`` on requests prepared beforehand (after 20 warm-up calls), and
    batch rows/s of ``send(prepare(batch))`` (request building included)."""
    singles = [prepare(rows.iloc[[i]]) for i in range(args.single + 20)]
    latencies = timed(singles, send)[20:]
    return {"description": description, **percentiles(latencies), **batch_throughput(prepare, send, rows, args)}


def batch_throughput(prepare: Callable, send: Callable, rows: pd.DataFrame, args) -> dict:
    """``rows_per_s``: request building included (:func:`throughput`); ``server_rows_per_s``: the same requests
    built beforehand, so only the round trips are timed (as the single-row latencies are)."""
    built = [prepare(rows.iloc[i : i + args.batch]) for i in range(0, args.rows, args.batch)]
    send(built[0])  # warm-up
    start = time.perf_counter()
    for request in built:
        send(request)
    server = round(args.rows / (time.perf_counter() - start), 1)
    return {"rows_per_s": throughput(prepare, send, rows, args), "server_rows_per_s": server}


def throughput(prepare: Callable, send: Callable, rows: pd.DataFrame, args) -> float:
    """Rows/s of sequential ``send(prepare(batch))`` over ``args.rows`` rows in ``args.batch``-row requests."""
    batches = [rows.iloc[i : i + args.batch] for i in range(0, args.rows, args.batch)]
    send(prepare(batches[0]))  # warm-up
    start = time.perf_counter()
    for batch in batches:
        send(prepare(batch))
    return round(args.rows / (time.perf_counter() - start), 1)


BLOCK = 50  # single-row requests per block when two routers alternate
SETTLE = 10  # first requests of a block left out: the other router's mirrors may still be draining


def alternate(client: RawTriton, routers: dict[str, str], rows: pd.DataFrame, keys: pd.Series, args) -> dict[str, list[float]]:
    """Single-row latencies of several routers, measured in alternating blocks on the same rows."""
    latencies: dict[str, list[float]] = {name: [] for name in routers}
    blocks = max(1, args.single // (BLOCK - SETTLE))
    order = list(routers)
    for block in range(blocks + 1):  # block 0 warms up
        for name in order if block % 2 else reversed(order):
            requests_ = [
                client.prepare(routers[name], rows.iloc[[i]], keys.iloc[[i]]) for i in range(block * BLOCK, (block + 1) * BLOCK)
            ]
            measured = timed(requests_, client.send)[SETTLE:]
            if block:
                latencies[name] += measured
    return latencies


def champion_only_router(pipe: CycleContext) -> str:
    """A second router over the same versions model that routes to the champion alone (benchmark only)."""
    from champion_challenger.serving import triton_repository
    from champion_challenger.serving.routing import RoutingTable

    name = f"{pipe.model_name}_champion_only"
    repository = pipe.settings.triton_repository
    inputs = triton_repository.served_inputs(repository, pipe.versions_model, [1, 2])
    triton_repository.write_router(repository, name, inputs, RoutingTable(pipe.versions_model, champion=1))
    pipe.triton.load(name)
    pipe.triton.wait_ready(name, [1])
    return name


def timed(requests_: list, send: Callable) -> list[float]:
    out = []
    for request in requests_:
        start = time.perf_counter()
        send(request)
        out.append((time.perf_counter() - start) * 1000)
    return out


def percentiles(latencies_ms: list[float]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(latencies_ms, 50)), 3),
        "p99_ms": round(float(np.percentile(latencies_ms, 99)), 3),
    }


def shadow_counters(pipe: CycleContext) -> dict:
    time.sleep(PUBLISH_LAG_S)  # every count so far published (the router batches them)
    text = requests.get(pipe.settings.triton_metrics_url, timeout=10).text
    counters = parse_counters(text, pipe.model_name)
    names = {
        "ccp_router_rows_total": "mirrored_rows",
        "ccp_shadow_dropped_total": "dropped_rows",
        "ccp_capture_records_total": "capture_records",
    }
    summed: dict[str, float] = {}
    for (name, labels), value in counters.items():
        if name in names and (name != "ccp_router_rows_total" or ("role", "shadow") in labels):
            summed[names[name]] = summed.get(names[name], 0) + value
    return summed


class MlflowServe:
    """``mlflow models serve`` of a registered model on a free port."""

    def __init__(self, pipe: CycleContext, model_uri: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.service = ServiceProcess(
            name="mlflow-serve",
            command=[
                str(Path(sys.executable).parent / "mlflow"),
                "models",
                "serve",
                "-m",
                model_uri,
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            health_url=f"{self.url}/ping",
            ports=[port],
            state_dir=pipe.settings.home / "services",
            # the server execs ``uvicorn`` from PATH: put this environment's scripts first
            env={"MLFLOW_TRACKING_URI": pipe.tracking_uri, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
        )

    def __enter__(self) -> str:
        self.service.start(timeout_s=180)
        return self.url

    def __exit__(self, *exc) -> None:
        self.service.stop()


def mlflow_payload(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))})


def mlflow_post(url: str, payload: str) -> list:
    response = requests.post(f"{url}/invocations", data=payload, headers={"Content-Type": "application/json"}, timeout=120)
    response.raise_for_status()
    return response.json()["predictions"]


def targets(s: dict, memory: dict | None = None) -> dict:
    """The issue's targets, each with the measured figures it compares (those whose scenarios ran)."""
    checks = {
        "router_champion_only_p50_le_1.5ms": (
            ["b_triton_router_champion_only"],
            lambda b: {"measured_ms": b["p50_ms"], "met": b["p50_ms"] <= 1.5},
        ),
        "router_champion_only_p50_le_1.5ms_grpc": (
            ["b_triton_router_champion_only_grpc"],
            lambda b: {"measured_ms": b["p50_ms"], "met": b["p50_ms"] <= 1.5},
        ),
        "triton_batch_rows_per_s_ge_150k": (
            ["b_triton_router_champion_only"],
            lambda b: {
                "measured": b["server_rows_per_s"],
                "with_request_building": b["rows_per_s"],
                "met": b["server_rows_per_s"] >= 150_000,
            },
        ),
        "shadow_p50_le_1.2x_champion_only": (["c_triton_router_shadow_100pct", "b_triton_router_champion_only"], _ratio_le_1_2),
        "shadow_p50_le_1.2x_champion_only_grpc": (
            ["c_triton_router_shadow_100pct_grpc", "b_triton_router_champion_only_grpc"],
            _ratio_le_1_2,
        ),
        "triton_rows_per_s_ge_inprocess": (
            ["b_triton_router_champion_only", "a_inprocess_ludwig_predict"],
            lambda b, a: _throughput(b, a, 1),
        ),
        "triton_rows_per_s_ge_3x_mlflow_serve": (
            ["b_triton_router_champion_only", "d_mlflow_models_serve"],
            lambda b, d: _throughput(b, d, 3),
        ),
    }
    out = {name: check(*(s[k] for k in keys)) for name, (keys, check) in checks.items() if all(k in s for k in keys)}
    if memory and memory.get("exported_version_rss_mb_max") is not None:
        rss = memory["exported_version_rss_mb_max"]
        out["exported_version_rss_le_150mb"] = {"measured_mb": rss, "met": rss <= 150}
    return out


def _ratio_le_1_2(c: dict, b: dict) -> dict:
    return {"ratio": round(c["p50_ms"] / b["p50_ms"], 3), "met": c["p50_ms"] <= 1.2 * b["p50_ms"]}


def _throughput(triton: dict, other: dict, factor: float) -> dict:
    return {
        "ratio": round(triton["rows_per_s"] / other["rows_per_s"], 2),
        "met": triton["rows_per_s"] >= factor * other["rows_per_s"],
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def cpu_reference_ms() -> float:
    """Time of a fixed pure-Python loop: how fast this (shared, virtual) machine ran at the moment."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return round((time.perf_counter() - start) * 1000, 1)


def table(results: dict) -> str:
    lines = [f"{'scenario':<42}{'p50 ms':>10}{'p99 ms':>10}{'rows/s':>12}{'prebuilt':>12}"]
    for name, s in results["scenarios"].items():
        prebuilt = f"{s['server_rows_per_s']:>12,.0f}" if "server_rows_per_s" in s else f"{'-':>12}"
        lines.append(f"{name:<42}{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}{s['rows_per_s']:>12,.0f}{prebuilt}")
    memory = results.get("model_stack") or {}
    lines += [f"{name}: {value}" for name, value in memory.items() if name != "stubs"]
    lines += [f"{name}: {target}" for name, target in results["targets"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
