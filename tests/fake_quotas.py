"""Service Quotas for SageMaker on 127.0.0.1: moto serves Service Quotas for VPC only.

Answers ListServiceQuotas and ListAWSDefaultServiceQuotas (JSON 1.1, the service's own wire
format, so the real botocore client parses the answers) with `quotas`: quota name -> value,
each with a made-up quota code; the tests point AWS_ENDPOINT_URL_SERVICE_QUOTAS here.
"""

from __future__ import annotations

import http.server
import json
import threading
import zlib


class FakeQuotas:
    def __init__(self, quotas: dict[str, float] | None = None):
        self.quotas = dict(quotas or {})
        self.requests: list[tuple[str, dict]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                proxy.requests.append((op, body))
                payload = json.dumps(proxy.answer(op, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, op: str, body: dict) -> dict:
        if body.get("ServiceCode") != "sagemaker":
            return {"Quotas": []}
        quotas = [
            {
                "ServiceCode": "sagemaker",
                "ServiceName": "Amazon SageMaker",
                "QuotaCode": self.code(name),
                "QuotaName": name,
                "Value": float(value),
                "Unit": "None",
                "Adjustable": True,
                "GlobalQuota": False,
            }
            for name, value in sorted(self.quotas.items())
        ]
        return {"Quotas": quotas}

    def code(self, name: str) -> str:
        return f"L-{zlib.crc32(name.encode()):08X}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
