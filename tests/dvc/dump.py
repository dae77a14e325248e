"""Loads each case's dvc.yaml with DVC and prints one JSON line per case (in argument order), shaped like
`cairn dag --format json`, or {"error": "<DVC's message>"} when DVC refuses the pipeline.

Run with the python of the DVC venv (scripts/dvc-venv.sh):

    python tests/dvc/dump.py tests/dvc/cases/*/

Each case directory is copied into a fresh temporary folder (without the harness's own files) and
`dvc init --no-scm` is done there, so nothing DVC writes lands in the repository. DVC is imported
once for all cases: its import is the slow part.
"""

import json
import logging
import os
import re
import shutil
import sys
import tempfile

# Files of a case that belong to the harness, not to the pipeline.
HARNESS_FILES = {"mentions", "differs.md", "cairn.json"}

ANSI = re.compile(r"(\x9B|\x1B\[)[0-?]*[ -/]*[@-~]")


def rel(root, path):
    """Workspace-relative with `/`, "" for the root itself."""
    r = os.path.relpath(path, root)
    return "" if r == os.curdir else r.replace(os.sep, "/")


def message(exc):
    """DVC's message as its CLI prints it: the exception and its causes, joined."""
    parts = []
    while exc is not None:
        text = str(exc).strip()
        if text and text not in parts:
            parts.append(text)
        exc = exc.__cause__
    return ANSI.sub("", ": ".join(parts)) or type(exc).__name__


def stage_json(root, stage):
    from dvc.dependency import ParamsDependency

    cmd = stage.cmd
    if cmd is None:
        cmd = []
    elif isinstance(cmd, str):
        cmd = [cmd]
    deps, params = [], []
    for dep in stage.deps:
        if isinstance(dep, ParamsDependency):
            file = rel(root, dep.fs_path)
            # No keys: DVC tracks the whole file.
            keys = dep.params or [""]
            params.extend({"file": file, "key": key} for key in keys)
        else:
            deps.append(rel(root, dep.fs_path))
    params.sort(key=lambda p: (p["file"], p["key"]))
    outs = []
    # DVC keeps outs, metrics and plots in one list, in that order; the kind is a flag.
    for out in stage.outs:
        kind = "metric" if out.metric else "plot" if out.plot else "out"
        outs.append(
            {
                "path": rel(root, out.fs_path),
                "kind": kind,
                "cache": bool(out.use_cache),
                "persist": bool(out.persist),
            }
        )
    return {
        "name": stage.name,
        "cmd": list(cmd),
        "wdir": rel(root, stage.wdir),
        "deps": deps,
        "params": params,
        "outs": outs,
        "frozen": bool(stage.frozen),
        "always_changed": bool(stage.always_changed),
    }


def load(case_dir, Repo):
    with tempfile.TemporaryDirectory(prefix="cairn-dvc-") as tmp:
        root = os.path.realpath(tmp)
        for entry in os.listdir(case_dir):
            if entry in HARNESS_FILES:
                continue
            src = os.path.join(case_dir, entry)
            dst = os.path.join(root, entry)
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
        repo = Repo.init(root, no_scm=True)
        # From the root, as a user runs DVC: its messages name paths relative to the cwd.
        cwd = os.getcwd()
        os.chdir(root)
        try:
            # The index loads every dvc.yaml (stages and the top-level sections), the graph
            # checks outs and cycles: together what any DVC command does first.
            index = repo.index
            stages = index.stages
            graph = index.graph
        except Exception as exc:  # noqa: BLE001 -- any refusal is the result
            return {"error": message(exc)}
        finally:
            repo.close()
            os.chdir(cwd)
        # DVC's edges point from a stage to the stage it depends on.
        edges = sorted([up.name, down.name] for down, up in graph.edges)
        return {"stages": [stage_json(root, s) for s in stages], "edges": edges}


def main(argv):
    if not argv:
        print("usage: dump.py CASE_DIR...", file=sys.stderr)
        return 2
    from dvc.repo import Repo

    # Only JSON on stdout: not `dvc init`'s banner, nor foreach warnings ("item is already
    # specified"), which are not results. Set after the import, which configures DVC's logger.
    logging.getLogger("dvc").setLevel(logging.ERROR)

    # One line per argument, in order. A failure of the harness itself (not of DVC's loading)
    # stops here with a traceback rather than passing for a refusal.
    for case_dir in argv:
        print(json.dumps(load(case_dir, Repo)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
