"""Build networks as training builds them and print their digests (run by runner.equivalence in
a fresh interpreter whose PYTHONPATH is one revision of the library).

Input (stdin): a JSON list of {"run", "builder": "module:function", "seed_rule":
"module:function", "params", "seeds", "n_classes"}. Output (the last line of stdout):
{run: [digest per seed]}, each digest the sha256 of the network's configuration and of its
initial weights' bytes. Importing only the library's
own builder and seed rule (named in the input), it is the same under any revision.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys


def digest(model) -> str:
    h = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for w in model.get_weights():
        h.update(str(w.dtype).encode() + str(w.shape).encode() + w.tobytes())
    return h.hexdigest()


def main() -> None:
    jobs = json.loads(sys.stdin.read())
    out = {}
    for job in jobs:
        build, seed_everything = (
            getattr(importlib.import_module(m), f)
            for m, f in (job["builder"].split(":"), job["seed_rule"].split(":"))
        )
        out[job["run"]] = []
        for seed in job["seeds"]:
            seed_everything(seed)  # as analysis.training.experiment.train_seeds does
            out[job["run"]].append(digest(build(job["params"], job["n_classes"], seed)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
