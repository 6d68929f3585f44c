"""Run one Grand Challenge job inside an algorithm container the way the platform does, with its own runner.

This script runs *inside* the image under test (``python -I``, as the container's command; see
:mod:`gc_runner`). It starts a local S3 server (moto, ``127.0.0.1:9000`` in the container's own network
namespace, so ``--network none`` still holds), uploads the cases, then runs the
real ``sagemaker-shim invoke --tasks ...`` from PyPI, which starts the image's original ENTRYPOINT + CMD as
its child (the invoke server, or one ``run`` per case in exec mode), downloads each case to ``/input``,
calls ``/invoke`` or waits for the exit, uploads ``/output`` and a signed ``inference_result.json`` per task
and, at the end, stops the child with SIGTERM (5 s grace, then SIGKILL). Everything the shim left in S3 and
every line it logged are written to ``RESULTS/summary.json``.

    python -I driver.py SPEC.json

SPEC: ``{"api_method", "entrypoint", "cmd", "shim", "s3", "results",
"health_timeout_s" | null, "tasks": [{"pk", "case", "timeout_s"}]}`` (paths inside the container).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

S3_PORT = 9000
ENDPOINT = f"http://127.0.0.1:{S3_PORT}"


def b64j(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"driver: nothing listens on port {port} after {seconds} s") from None
            time.sleep(0.2)


def signed_json(client, bucket: str, key: str, signing_key: str) -> dict | None:
    """A JSON file the shim uploaded, with ``signature_ok``: its HMAC-SHA256 metadata matches the content."""
    try:
        obj = client.get_object(Bucket=bucket, Key=key)
    except client.exceptions.NoSuchKey:
        return None
    content = obj["Body"].read()
    expected = hmac.new(bytes.fromhex(signing_key), msg=content, digestmod=hashlib.sha256).hexdigest()
    value = json.loads(content)
    value["signature_ok"] = hmac.compare_digest(obj["Metadata"].get("signature_hmac_sha256", ""), expected)
    return value


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    results = Path(spec["results"])
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(credentials)
    moto = f"import sys; sys.path[:0] = [{spec['s3']!r}]; from moto.server import main; main()"
    s3_server = subprocess.Popen(
        [sys.executable, "-I", "-c", moto, "--host", "127.0.0.1", "--port", str(S3_PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(S3_PORT, 60)
        sys.path[:0] = [spec["s3"]]
        import boto3

        client = boto3.client("s3", endpoint_url=ENDPOINT)
        for bucket in ("inputs", "outputs"):
            client.create_bucket(Bucket=bucket)
        tasks = []
        for task in spec["tasks"]:
            case = Path(task["case"])
            inputs = []
            for path in sorted(p for p in case.rglob("*") if p.is_file()):
                relative = path.relative_to(case).as_posix()
                key = f"{task['pk']}/{relative}"
                client.upload_file(str(path), "inputs", key)
                inputs.append({"relative_path": relative, "bucket_name": "inputs", "bucket_key": key})
            tasks.append(
                {
                    "pk": task["pk"],
                    "inputs": inputs,
                    "output_bucket_name": "outputs",
                    "output_prefix": f"jobs/{task['pk']}/",
                    "timeout": task["timeout_s"],
                }
            )
        signing_key = secrets.token_hex(32)
        env = {
            **os.environ,
            "AWS_S3_ENDPOINT_URL": ENDPOINT,
            "GRAND_CHALLENGE_COMPONENT_API_METHOD": spec["api_method"],
            "GRAND_CHALLENGE_COMPONENT_ENTRYPOINT_B64J": b64j(spec["entrypoint"]),
            "GRAND_CHALLENGE_COMPONENT_CMD_B64J": b64j(spec["cmd"]),
            "GRAND_CHALLENGE_COMPONENT_SIGNING_KEY_HEX": signing_key,
            "GRAND_CHALLENGE_COMPONENT_RUNTIME_OUTPUT_BUCKET_NAME": "outputs",
            "GRAND_CHALLENGE_COMPONENT_RUNTIME_OUTPUT_PREFIX": "runtime/",
            # / is read-only and we are not root: no /input symlink, no chmod of folders we do not own
            "GRAND_CHALLENGE_COMPONENT_USE_LINKED_INPUT": "False",
            "GRAND_CHALLENGE_COMPONENT_WRITABLE_DIRECTORIES": "",
            "GRAND_CHALLENGE_COMPONENT_POST_CLEAN_DIRECTORIES": "",
            # the shim runs as root on Grand Challenge and drops to the image's USER; here it already is uid 1000,
            # without the capability setgroups() needs
            "GRAND_CHALLENGE_COMPONENT_SET_EXTRA_GROUPS": "False",
        }
        if spec.get("health_timeout_s"):
            env["GRAND_CHALLENGE_COMPONENT_START_AND_HEALTH_TIMEOUT_SECONDS"] = str(spec["health_timeout_s"])
        shim = f"import sys; sys.path[:0] = [{spec['shim']!r}]; from sagemaker_shim.cli import cli; cli()"
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-I", "-c", shim, "invoke", "--tasks", json.dumps(tasks)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream keeps the order of the shim's stdout and stderr lines
            timeout=spec.get("shim_timeout_s", 1200),
        )
        seconds = time.monotonic() - start
        log = []
        for line in proc.stdout.decode(errors="replace").splitlines():
            try:
                log.append(json.loads(line))
            except ValueError:
                log.append({"log": line, "level": "RAW", "source": "raw", "internal": True, "task": None})
        summary = {
            "exit_code": proc.returncode,
            "seconds": seconds,
            "runtime_setup": signed_json(
                client, "outputs", "runtime/.sagemaker_shim/runtime_setup_result.json", signing_key
            ),
            "results": {},
            "log": log,
        }
        for task in tasks:
            pk = task["pk"]
            result = signed_json(client, "outputs", f"jobs/{pk}/.sagemaker_shim/inference_result.json", signing_key)
            summary["results"][pk] = result
            for output in (result or {}).get("outputs", []):
                target = results / pk / output["relative_path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(output["bucket_name"], output["bucket_key"], str(target))
        (results / "summary.json").write_text(json.dumps(summary, indent=1))
    finally:
        s3_server.terminate()
        s3_server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
