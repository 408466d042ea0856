"""Executed notebooks anyone can read: run them quietly, publish them without volatile bytes.

`make paper` executes notebooks 03-06 with papermill into build/<profile>/, which git ignores.
For each study of record (``of_record`` in afunet/profiles.py), `make publish` renders them as
Markdown with their figures in notebooks/executed/<profile>/ (``<name>.md`` and
``<name>_files/``), where GitHub shows their tables and figures. Sources stay notebooks without
outputs; what is published is a page, stripped first of what changes from one run to the next
(durations, times, versions, random ids, addresses, progress bars), so that a re-run that
changes no number changes no byte::

    python -m afunet.reporting.notebooks run notebooks/05_efficiency.ipynb \\
        build/cpu/05_efficiency.ipynb -p profile cpu        # papermill, without kernel noise
    python -m afunet.reporting.notebooks publish --profile cpu

tests/test_published_notebooks.py keeps the published pages current with the notebooks.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
import papermill
from jupyter_core.utils import run_sync
from nbclient.util import ensure_async
from nbconvert import MarkdownExporter
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger as papermill_logger
from traitlets.config import Config

from afunet.errors import AfunetError
from afunet.profiles import PROFILES, get_profile
from afunet.study import DATASETS, REPO

SOURCES = REPO / "notebooks"
PUBLISHED = SOURCES / "executed"
INJECTED = "injected-parameters"  # papermill's tag on the cell it adds


@dataclass(frozen=True)
class Executed:
    """One executed notebook of a study: build/<profile>/<name>.ipynb, run from ``source``."""

    name: str
    source: str  # file name under notebooks/
    parameters: dict = field(default_factory=dict)  # papermill parameters it must have been run with


def of_record() -> list[str]:
    """The profiles whose executed notebooks are published: those of record."""
    return [p.name for p in PROFILES.values() if p.of_record]


def expected(profile: str) -> list[Executed]:
    """The notebooks `make tables figures` executes for a profile (Makefile: table1 ... ablation)."""
    ran = [Executed("03_tables", "03_tables.ipynb", {"profile": profile})]
    ran += [Executed(f"04_qualitative_{d}", "04_qualitative.ipynb", {"profile": profile, "dataset": d})
            for d in DATASETS]
    ran.append(Executed("05_efficiency", "05_efficiency.ipynb", {"profile": profile}))
    if get_profile(profile).ablation:
        ran.append(Executed("06_ablation", "06_ablation.ipynb", {"profile": profile}))
    return ran


# --- running: papermill with a kernel that makes no noise --------------------------------------


class _IdleClient(PapermillNotebookClient):
    """Papermill's client, waiting for the kernel to be idle after a request outside the cells.

    Papermill asks for kernel_info after the last cell and shuts the kernel down on its reply;
    jupyter_client interrupts (SIGINT) the kernel first, and a kernel still inside the request's
    handler logs "KeyboardInterrupt caught in kernel" (a race). Once idle, it ignores SIGINT.
    """

    async def async_wait_for_reply(self, msg_id, cell=None):
        reply = await super().async_wait_for_reply(msg_id, cell)
        if cell is None:  # cells wait for their own idle status (nbclient)
            while True:
                try:
                    msg = await ensure_async(self.kc.get_iopub_msg(timeout=self.iopub_timeout))
                except Empty:
                    break
                if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    break
        return reply

    wait_for_reply = run_sync(async_wait_for_reply)


class _QuietEngine(NBClientEngine):
    """Papermill's nbclient engine with `_IdleClient` and `kernel_config`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None,
                                 **kwargs):
        kwargs.pop("input_path", None)
        return _IdleClient(nb_man, kernel_name=kernel_name, log=papermill_logger,
                           log_output=log_output, stdout_file=stdout_file,
                           stderr_file=stderr_file, startup_timeout=start_timeout,
                           timeout=execution_timeout, config=kernel_config(), **kwargs).execute()


def kernel_config() -> Config:
    """The kernel's channels encrypted (CurveZMQ) where pyzmq can, else over IPC on POSIX.

    Over plain TCP, ipykernel warns "Kernel is running over TCP without encryption" on start.
    """
    import zmq
    from jupyter_client import KernelManager

    if zmq.has("curve") and "transport_encryption" in KernelManager.class_trait_names():
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    if os.name == "posix":
        return Config({"KernelManager": {"transport": "ipc"}})
    return Config()


def run(source, output, parameters: dict | None = None) -> None:
    """Execute a notebook as the papermill CLI does (no progress bar), without kernel noise."""
    papermill_engines.register("afunet-quiet", _QuietEngine)
    papermill.execute_notebook(str(source), str(output), parameters=parameters or {},
                               engine_name="afunet-quiet", progress_bar=False)


def parse_value(text: str):
    """A -p value as the papermill CLI reads it: True, False, None, int, float, else text."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# --- publishing: strip what a re-run changes, keep every output ---------------------------------

_ADDRESS = re.compile(r"(<[^<>\s]+(?: object)?) at 0x[0-9a-fA-F]+>")  # <Styler at 0x7f..>
_STYLER = re.compile(r"\bT_[0-9a-f]{5}(?![0-9a-zA-Z])")  # pandas Styler's random table uuid
_VOLATILE_META = ("execution", "papermill")  # cell metadata: times, status
_WIDGET = "application/vnd.jupyter.widget-view+json"


def strip(nb, repo: Path = REPO):
    """A copy of an executed notebook without what changes from one run to the next.

    Drops papermill's timings and status (its parameters and input path stay), the kernel's
    version, widget state, cell execution times, widget outputs and progress-bar lines (any
    line with a carriage return); consecutive stream outputs are merged (`_merge_streams`);
    cell ids become their index (as nbstripout does); in text
    outputs, paths under ``repo`` become relative, object addresses and pandas Styler uuids
    are dropped or numbered. Outputs (tables, figures, execution counts) are kept.
    """
    nb = copy.deepcopy(nb)
    meta = nb.metadata
    meta.pop("widgets", None)
    meta.get("language_info", {}).pop("version", None)
    if "papermill" in meta:
        pm = meta["papermill"]
        input_path = Path(pm.get("input_path") or "")
        if input_path.is_absolute() and input_path.is_relative_to(repo):
            input_path = input_path.relative_to(repo)
        meta["papermill"] = {"input_path": input_path.as_posix(),
                             "parameters": pm.get("parameters", {})}
    prefix = re.compile(re.escape(str(repo)) + r"(/|(?![\w.-]))")
    uuids: dict[str, str] = {}

    def text(value):
        value = prefix.sub(lambda m: "" if m.group(1) else ".", value)
        value = _ADDRESS.sub(r"\1>", value)
        return _STYLER.sub(lambda m: uuids.setdefault(m.group(), f"T_{len(uuids):05d}"), value)

    for index, cell in enumerate(nb.cells):
        if "id" in cell:
            cell.id = str(index)
        for key in _VOLATILE_META:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in _merge_streams(cell.outputs):
            if out.output_type == "stream":
                kept = "\n".join(line for line in out.text.split("\n") if "\r" not in line)
                if not kept:
                    continue
                out.text = text(kept)
            elif "data" in out:
                if _WIDGET in out.data:
                    continue
                for mime, value in out.data.items():
                    if mime.startswith("text/") and isinstance(value, str):
                        out.data[mime] = text(value)
            outputs.append(out)
        cell.outputs = outputs
    return nb


def _merge_streams(outputs) -> list:
    """Consecutive stream outputs as one per stream, stdout first.

    Where the kernel splits a stream into outputs, and how stdout and stderr interleave between
    two displays, depends on when its buffers were flushed; displays flush both, so they stay.
    """
    merged, pending = [], {}
    for out in [*outputs, None]:
        if out is not None and out.output_type == "stream":
            if out.name in pending:
                pending[out.name].text += out.text
            else:
                pending[out.name] = out
            continue
        merged += [pending[name] for name in sorted(pending, key=lambda n: (n != "stdout", n))]
        pending = {}
        if out is not None:
            merged.append(out)
    return merged


def dumps(nb) -> str:
    """The notebook as nbformat writes it (sorted keys, one-space indent), newline-terminated."""
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def problems(nb, executed: Executed) -> list[str]:
    """What is wrong with an executed notebook: stale cells, other parameters, errors."""
    found = []
    source = nbformat.read(SOURCES / executed.source, as_version=4)
    want = [(c.cell_type, c.source) for c in source.cells]
    have = [(c.cell_type, c.source) for c in nb.cells
            if INJECTED not in c.metadata.get("tags", [])]
    if have != want:
        found.append(f"its cells differ from notebooks/{executed.source} (stale: run it again)")
    parameters = nb.metadata.get("papermill", {}).get("parameters", {})
    for key, value in executed.parameters.items():
        if parameters.get(key) != value:
            found.append(f"run with {key}={parameters.get(key)!r}, not {value!r}")
    if nb.metadata.get("papermill", {}).get("exception"):
        found.append("papermill recorded an exception")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"error output: {out.ename}: {out.evalue}")
    return found


# Relative links of the notebooks' Markdown cells, written from notebooks/: the published pages
# sit two folders deeper, in notebooks/executed/<profile>/.
_RELATIVE_LINK = re.compile(r"(\]\()(?![a-z][a-z0-9+.-]*:|#|/)")


def render(nb, name: str) -> tuple[str, dict[str, bytes]]:
    """A stripped notebook as a Markdown page and its figures ({path relative to the page: bytes}).

    Figures go to ``<name>_files/<name>_<cell>_<output>.png``; links of Markdown cells are
    rewritten for the page's folder.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _RELATIVE_LINK.sub(r"\1../../", cell.source)
    body, resources = MarkdownExporter().from_notebook_node(
        nb, resources={"unique_key": name, "output_files_dir": f"{name}_files"})
    return body.rstrip("\n") + "\n", dict(resources.get("outputs", {}))


def publish(profile: str, build: Path = REPO / "build", published: Path = PUBLISHED) -> list[Path]:
    """Write the pages of a profile's executed notebooks; [] for a profile not of record.

    Refuses (AfunetError) a notebook that is missing, stale or failed; removes pages and figures
    the profile no longer executes. Files whose bytes would not change are left alone.
    Returns the pages and figures written.
    """
    if not get_profile(profile).of_record:
        print(f"publish: profile {profile!r} is not of record; nothing published")
        return []
    wanted = expected(profile)
    notebooks, errors = {}, []
    for executed in wanted:
        path = build / profile / f"{executed.name}.ipynb"
        if not path.is_file():
            errors.append(f"{path}: missing")
            continue
        notebooks[executed.name] = nb = nbformat.read(path, as_version=4)
        errors += [f"{path}: {problem}" for problem in problems(nb, executed)]
    if errors:
        raise AfunetError("cannot publish:\n  " + "\n  ".join(errors)
                          + f"\nrun `make tables figures PROFILE={profile}` first")
    folder = published / profile
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for executed in wanted:
        page, figures = render(strip(notebooks[executed.name]), executed.name)
        files = {f"{executed.name}.md": page.encode("utf-8"), **figures}
        for relative, data in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)
            written.append(path)
    for old in sorted(p for p in folder.rglob("*") if p.is_file() and p not in written):
        old.unlink()
    for empty in sorted((d for d in folder.glob("*_files") if not any(d.iterdir())), reverse=True):
        empty.rmdir()
    size = sum(p.stat().st_size for p in written)
    shown = folder.relative_to(REPO) if folder.is_relative_to(REPO) else folder
    print(f"publish: {len(wanted)} pages and {len(written) - len(wanted)} figures in {shown}/ "
          f"({size / 1e6:.1f} MB)")
    return written


def main(argv=None) -> int:
    """Run a notebook quietly, or publish a profile's executed notebooks."""
    parser = argparse.ArgumentParser(prog="python -m afunet.reporting.notebooks",
                                     description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="execute a notebook with papermill, without kernel noise")
    one.add_argument("source")
    one.add_argument("output")
    one.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="a parameter, read as papermill's CLI does")
    pub = sub.add_parser("publish", help="render build/<profile>/ as pages in "
                         "notebooks/executed/<profile>/")
    pub.add_argument("--profile", required=True, choices=list(PROFILES))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # papermill's warnings
    try:
        if args.command == "run":
            run(args.source, args.output, {k: parse_value(v) for k, v in args.parameter})
        else:
            publish(args.profile)
    except (AfunetError, PapermillExecutionError) as err:
        raise SystemExit(f"{parser.prog} {args.command}: {err}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
