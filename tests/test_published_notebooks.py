"""notebooks/executed/: every study of record's executed notebooks, current and without volatile bytes.

`make publish` (afunet/reporting/notebooks.py) writes them; these tests need no data and no
training. A failure here after a notebook's edit means: `make tables figures publish PROFILE=...`.
"""

import json
import re
import uuid

import nbformat
import pytest

from afunet.errors import AfunetError
from afunet.profiles import PROFILES
from afunet.reporting import notebooks as nbs
from afunet.study import REPO

OF_RECORD = nbs.of_record()
CASES = [(p, e) for p in OF_RECORD for e in nbs.expected(p)]
FIX = "run `make tables figures publish PROFILE={}`"


def test_profiles_of_record_come_from_the_profiles():
    assert OF_RECORD == [name for name, p in PROFILES.items() if p.of_record]
    assert OF_RECORD, "no profile of record: nothing would be published"


@pytest.mark.parametrize("profile", OF_RECORD)
def test_every_expected_notebook_is_published(profile):
    found = sorted(p.stem for p in (nbs.PUBLISHED / profile).glob("*.md"))
    assert found == sorted(e.name for e in nbs.expected(profile)), FIX.format(profile)
    # Pages, not notebooks: sources are the only notebooks, and they carry no outputs.
    assert not list(nbs.PUBLISHED.rglob("*.ipynb"))


@pytest.mark.parametrize(("profile", "executed"), CASES,
                         ids=[f"{p}/{e.name}" for p, e in CASES])
def test_published_page_is_current_and_complete(profile, executed):
    path = nbs.PUBLISHED / profile / f"{executed.name}.md"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(REPO)} is missing: " + FIX.format(profile))
    page = path.read_text(encoding="utf-8")
    # Every cell of the source notebook, in order: a page of an older notebook is stale.
    source = nbformat.read(nbs.SOURCES / executed.source, as_version=4)
    at = 0
    for cell in source.cells:
        found = page.find(cell.source.strip(), at)
        assert found >= 0, f"{cell.source[:60]!r} is not on the page: " + FIX.format(profile)
        at = found + len(cell.source.strip())
    # Run with this profile's parameters (papermill's injected cell), and without an error.
    for key, value in executed.parameters.items():
        assert f"{key} = {value!r}".replace("'", '"') in page
    assert "Traceback (most recent call last)" not in page
    assert str(REPO) not in page and " at 0x" not in page
    # It shows something, and every figure it shows is there, and nothing else.
    figures = set(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page))
    assert figures or "<table" in page, "no table and no figure on the page"
    folder = path.parent / f"{executed.name}_files"
    kept = {p.relative_to(path.parent).as_posix() for p in folder.glob("*")}
    assert figures == kept


def test_published_notebooks_stay_small():
    total = sum(p.stat().st_size for p in nbs.PUBLISHED.rglob("*") if p.is_file())
    assert total < 10e6, f"notebooks/executed/ holds {total / 1e6:.1f} MB"


def _executed(source: str, parameters: dict, seed: int):
    """What papermill leaves in build/: the source, parameters injected, volatile fields set."""
    nb = nbformat.read(nbs.SOURCES / source, as_version=4)
    nb.nbformat_minor = 5
    injected = nbformat.v4.new_code_cell(
        "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items()),
        metadata={"tags": [nbs.INJECTED]})
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first_code + 1, injected)
    nb.metadata.language_info = {"name": "python", "version": f"3.11.{seed}"}
    nb.metadata.widgets = {"state": {"seed": seed}}
    nb.metadata.papermill = {"parameters": parameters, "input_path": f"notebooks/{source}",
                             "output_path": "build/x.ipynb", "duration": 1.5 + seed,
                             "start_time": f"2026-01-0{seed + 1}", "exception": None}
    for count, cell in enumerate(nb.cells):
        cell.id = uuid.uuid4().hex[:8]
        cell.metadata.update(tags=cell.metadata.get("tags", []),
                             papermill={"duration": seed, "status": "completed"},
                             execution={"iopub.status.busy": f"t{seed}"})
        if cell.cell_type == "code":
            cell.execution_count = count
            cell.outputs = []
    code = next(c for c in nb.cells if c.cell_type == "code" and nbs.INJECTED not in c.metadata.tags)
    style = f"T_{uuid.uuid4().hex[:5]}"
    # The kernel splits and interleaves streams as its buffers happen to flush.
    written = f"wrote {REPO}/results/cpu/table1_drive.csv\n"
    warning = "UserWarning: few runs\n"
    bar = f"\r  0%|  | 0/9\r100%|##| 9/9 [00:0{seed}<00:00]\n"
    streams = ([("stdout", written[:9]), ("stderr", warning + bar), ("stdout", written[9:])]
               if seed == 0 else [("stderr", warning), ("stdout", written), ("stderr", bar)])
    code.outputs = [
        *(nbformat.v4.new_output("stream", name=name, text=text) for name, text in streams),
        nbformat.v4.new_output("display_data", data={
            "text/html": f'<style>#{style}_row0_col0 {{}}</style><table id="{style}"></table>',
            "text/plain": f"<pandas.io.formats.style.Styler at 0x7f{seed}a63a8d10>"}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": f"m{seed}"},
            "text/plain": "HBox()"}),
    ]
    return nb


def test_strip_leaves_no_byte_a_rerun_changes():
    runs = [_executed("05_efficiency.ipynb", {"profile": "cpu"}, seed) for seed in (0, 1)]
    first, second = (nbs.dumps(nbs.strip(nb)) for nb in runs)
    assert first == second
    stripped = nbs.strip(runs[0])
    assert nbs.dumps(nbs.strip(stripped)) == first  # a fixed point
    assert stripped.metadata.papermill == {"input_path": "notebooks/05_efficiency.ipynb",
                                           "parameters": {"profile": "cpu"}}
    outputs = [out for cell in stripped.cells for out in cell.get("outputs", [])]
    assert [out.get("name", out.output_type) for out in outputs] == [
        "stdout", "stderr", "display_data"]
    assert outputs[0].text == "wrote results/cpu/table1_drive.csv\n"
    assert outputs[1].text == "UserWarning: few runs\n"  # the progress bar is gone
    assert outputs[2].data["text/plain"] == "<pandas.io.formats.style.Styler>"
    assert outputs[2].data["text/html"].count("T_00000") == 2
    assert nbs.problems(stripped, nbs.Executed("05_efficiency", "05_efficiency.ipynb",
                                               {"profile": "cpu"})) == []
    json.loads(first)
    # The page of either run, too, is the same bytes.
    pages = [nbs.render(nbs.strip(nb), "05_efficiency") for nb in runs]
    assert pages[0] == pages[1] and "T_00000" in pages[0][0]


def _fake_build(tmp_path, profile):
    for executed in nbs.expected(profile):
        folder = tmp_path / "build" / profile
        folder.mkdir(parents=True, exist_ok=True)
        nb = _executed(executed.source, executed.parameters, 0)
        nbformat.write(nb, folder / f"{executed.name}.ipynb")


def test_publish_writes_each_expected_notebook_and_refuses_a_stale_one(tmp_path):
    profile = OF_RECORD[0]
    _fake_build(tmp_path, profile)
    out = tmp_path / "executed"
    (out / profile).mkdir(parents=True)
    (out / profile / "retired.md").write_text("old page")
    (out / profile / "retired_files").mkdir()
    (out / profile / "retired_files" / "retired_1_1.png").write_bytes(b"old figure")
    written = nbs.publish(profile, build=tmp_path / "build", published=out)
    assert sorted(p.name for p in (out / profile).iterdir()) == sorted(p.name for p in written)
    assert sorted(p.stem for p in written) == sorted(e.name for e in nbs.expected(profile))

    path = tmp_path / "build" / profile / "05_efficiency.ipynb"
    good = nbformat.read(path, as_version=4)
    stale = nbformat.from_dict(good)
    stale.cells[-1].source += "\n# edited since the run"
    nbformat.write(stale, path)
    with pytest.raises(AfunetError, match="stale"):
        nbs.publish(profile, build=tmp_path / "build", published=out)
    failed = nbformat.from_dict(good)
    code = next(c for c in failed.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom",
                                           traceback=[])]
    nbformat.write(failed, path)
    with pytest.raises(AfunetError, match="ValueError: boom"):
        nbs.publish(profile, build=tmp_path / "build", published=out)


def test_publish_skips_a_profile_not_of_record(tmp_path):
    others = [name for name in PROFILES if name not in OF_RECORD]
    if not others:
        pytest.skip("every profile is of record")
    assert nbs.publish(others[0], build=tmp_path, published=tmp_path / "executed") == []
    assert not (tmp_path / "executed").exists()


def test_parameters_read_as_papermill_reads_them():
    values = ["True", "False", "None", "3", "0.5", "cpu", "1e-3"]
    assert [nbs.parse_value(v) for v in values] == [True, False, None, 3, 0.5, "cpu", 1e-3]


def test_run_executes_without_kernel_noise(tmp_path, capfd):
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(x * 2)")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    nbs.run(tmp_path / "in.ipynb", tmp_path / "out.ipynb", {"x": 21})
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0].text == "42\n"
    err = capfd.readouterr().err
    assert "without encryption" not in err and "KeyboardInterrupt" not in err, err


def test_page_links_point_from_its_own_folder():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "[a](../results/cpu/table1_drive.md) [b](https://example.org) [c](#top) [d](/abs)")]
    page, figures = nbs.render(nb, "x")
    assert "[a](../../../results/cpu/table1_drive.md)" in page  # notebooks/executed/<profile>/
    assert "[b](https://example.org) [c](#top) [d](/abs)" in page and figures == {}
