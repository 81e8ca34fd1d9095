"""`policyc serve`: the HTTP decision service over the runtime (docs/serve.md).

It imports `policyc.runtime`, the standard library, Starlette, uvicorn,
prometheus-client and cryptography; never the parser, the semantics or lint. Modules:

- `config`: the service's settings (`ServeConfig`), from the command line;
- `registry`: the bundles served by name, their file watcher and atomic reloads;
- `decide`: an HTTP body to decisions (one event or a batch), as `policyc check` does;
- `fast_json`: orjson's reading of a body when it is the strict reader's;
- `ids`: decision ids, made in blocks;
- `decision_log`: the JSON Lines decision log (`policyc/audit/v1` records), rotated;
- `metrics`: the Prometheus metrics;
- `schema`: the JSON Schema of a policy's events, and the OpenAPI document;
- `app`: the Starlette application; `command`: `run_serve` and `run_sign`;
- `client`: a small Python client.
"""
