"""Every fenced Python block of the README runs as pasted: as a script, and as a notebook
cell (on a running event loop, top-level ``await`` allowed, as IPython runs cells).

Each block runs on its own (a reader pastes one at a time), in a fresh interpreter, in an
empty folder (blocks that write, such as a run store under ``data/``, write there).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)

# Runs each block given as JSON on argv[1] the way a Jupyter kernel runs a cell: compiled
# with top-level await allowed and executed while an asyncio loop runs, in a namespace of
# its own; prints one line per block: "@@", its index and "ok" or the error.
NOTEBOOK = r"""
import ast, asyncio, json, sys, traceback

async def cell(source, name):
    code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    out = eval(code, {"__name__": "__main__"})
    if asyncio.iscoroutine(out):
        await out

for i, source in enumerate(json.loads(sys.argv[1])):
    try:
        asyncio.run(cell(source, f"<README block {i}>"))
        print("@@", i, "ok", flush=True)
    except BaseException:
        print("@@", i, traceback.format_exc().replace("\n", " | "), flush=True)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg"}


def test_the_readme_has_python_blocks_to_run():
    assert len(BLOCKS) >= 6
    assert ".value" in BLOCKS[0]  # the first example shows what a task returned


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_a_script(index, tmp_path):
    script = tmp_path / f"block{index}.py"
    script.write_text(BLOCKS[index])
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=110)
    assert out.returncode == 0, f"README block {index}:\n{BLOCKS[index]}\n{out.stderr[-3000:]}"


@pytest.mark.slow
def test_readme_blocks_run_as_notebook_cells(tmp_path):
    out = subprocess.run([sys.executable, "-c", NOTEBOOK, json.dumps(BLOCKS)], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=110)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert [line.split(" ", 3)[1:3] for line in lines if line.startswith("@@ ")] == [
        [str(i), "ok"] for i in range(len(BLOCKS))], out.stdout[-3000:]
