"""`afunet data list|fetch|import|verify`: get the real data sets and check them.

afunet/cli.py calls `add_parser(subparsers)`; the `data` parser's default `func` is `run`.
"""

from __future__ import annotations

import argparse

from afunet.data import resolve_root, store
from afunet.errors import AfunetError, print_error

DESCRIPTION = """\
Manage the real retinal vessel data sets under the data root (--data-dir, else $AFUNET_DATA,
else <repo>/data), in their publishers' layout: DRIVE/, STARE/, CHASE_DB1/.
  list     which sets are present and how many images each holds
  fetch    download a set that may be downloaded (STARE)
  import   copy a set from its official archive(s) or folder, verified, all or nothing
  verify   check every file against the shipped pixel checksums
list and verify also name work folders left in the root by a killed import or fetch, and
remove those whose process no longer runs. See data/README.md for sources and licences."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `data` and its sub-commands on `add_subparsers()`'s result; returns `data`."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an unset sub-command option must not overwrite a top-level --data-dir.
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="data root (default: $AFUNET_DATA, else <repo>/data)",
    )
    names = ", ".join(store.real_datasets())
    fmt = argparse.RawDescriptionHelpFormatter

    data = subparsers.add_parser(
        "data",
        parents=[common],
        help="get and check the data sets",
        description=DESCRIPTION,
        formatter_class=fmt,
    )
    sub = data.add_subparsers(dest="data_command", metavar="{list,fetch,import,verify}")
    sub.required = True
    sub.add_parser(
        "list",
        parents=[common],
        help="show which sets are present",
        description="List each data set: present or missing at the data root, "
        "number of images found, and the command that gets a missing one.",
    )
    p = sub.add_parser(
        "fetch",
        parents=[common],
        help="download a set (STARE)",
        formatter_class=fmt,
        description=(
            "Download a data set and import it. Only STARE can be downloaded "
            "(three tar archives from Clemson University).\nDRIVE needs registration "
            "and CHASE_DB1 a manual download: this prints the steps for them.\n"
            f"Each download must end within ${store.FETCH_DEADLINE_ENV} seconds "
            f"(default {store.FETCH_DEADLINE}); https is never retried over http."
        ),
    )
    p.add_argument("name", choices=store.real_datasets(), help=f"data set: {names}")
    p = sub.add_parser(
        "import",
        parents=[common],
        help="import a set from archive(s) or a folder",
        formatter_class=fmt,
        description=(
            "Copy a data set into the data root in its publisher's layout, verify "
            "every file, and only then replace any previous copy.\nExamples:\n"
            "  afunet data import drive ~/Downloads/DRIVE.zip\n"
            "  afunet data import stare stare-images.tar labels-ah.tar labels-vk.tar\n"
            "  afunet data import chase_db1 ~/Downloads/CHASEDB1.zip"
        ),
    )
    p.add_argument("name", choices=store.real_datasets(), help=f"data set: {names}")
    p.add_argument(
        "path",
        nargs="+",
        metavar="PATH",
        help="archive(s) (.zip, .tar, .tar.gz) or folder(s) holding the set",
    )
    p = sub.add_parser(
        "verify",
        parents=[common],
        help="check files against the checksums",
        description="Decode every file of a set and compare its pixels with the "
        "published copy (DRIVE, STARE); CHASE_DB1 is checked for presence and "
        "size only. Exit status 1 when a problem is found.",
    )
    p.add_argument(
        "name",
        nargs="?",
        choices=store.real_datasets(),
        help=f"data set ({names}); default: every set present, or all if none is",
    )
    data.set_defaults(func=run)
    return data


def run(args: argparse.Namespace) -> int:
    """Run `afunet data ...`; exit status 1 when problems are found or it fails (on stderr)."""
    try:
        root = resolve_root(getattr(args, "data_dir", None))
        return COMMANDS[args.data_command](args, root)
    except AfunetError as exc:
        print_error(exc)
        return 1


def _list(args, root) -> int:
    """Print one line per set: present/missing, image count, and how to get a missing one."""
    found = store.clean_leftovers(root)  # first: it may put back a set a killed import moved
    print(f"data root: {root}")
    for row in store.status(root):
        state = "present" if row["present"] else "missing"
        print(
            f"  {row['name']:<10} {row['folder']:<10} {state:<8} "
            f"{row['n_images']}/{row['n_expected']} images"
        )
        if not row["present"]:
            print(f"             {row['how_to_get']}")
    print("  synthetic  (generated on the fly, no files needed)")
    _print_leftovers(found)
    return 0


def _report_leftovers(root, folders: list[str], skip: set = frozenset()) -> set:
    """Name a set's staging folders left in the root (removing dead ones), but those in skip."""
    found = [f for f in store.clean_leftovers(root, folders) if f.path not in skip]
    _print_leftovers(found)
    return {f.path for f in found}


def _print_leftovers(found: list) -> int:
    """Print store.clean_leftovers' notes; how many need the user."""
    if found:
        print("leftover work folders in the data root:")
    for leftover in found:
        print(f"  - {leftover.note}")
    return sum(not leftover.resolved for leftover in found)


def _folder(name: str) -> list[str]:
    """[the data root folder of a set], for _report_leftovers."""
    return [store.dataset_module(name).FOLDER]


def _fetch(args, root) -> int:
    """Download and import a set."""
    seen = _report_leftovers(root, _folder(args.name))
    try:
        path = store.fetch(args.name, root)
    finally:
        _report_leftovers(root, _folder(args.name), seen)  # one this run could not remove
    print(f"{args.name}: fetched and verified into {path}")
    return 0


def _import(args, root) -> int:
    """Import a set from archive(s) or folder(s)."""
    seen = _report_leftovers(root, _folder(args.name))
    try:
        path = store.import_dataset(args.name, args.path, root)
    finally:
        _report_leftovers(root, _folder(args.name), seen)  # one this run could not remove
    print(f"{args.name}: imported and verified into {path}")
    return 0


def _verify(args, root) -> int:
    """Verify one set, or every present set (all sets when none is present)."""
    found = store.clean_leftovers(root, _folder(args.name) if args.name else None)
    rows = store.status(root)
    if args.name:
        names = [args.name]
    else:
        names = [r["name"] for r in rows if r["present"]] or [r["name"] for r in rows]
    bad = 0
    for name in names:
        problems = store.verify(name, root)
        scope = (
            ""
            if store.has_checksums(name)
            else " (no reference checksums: checked presence, count and sizes only)"
        )
        if problems:
            bad += 1
            print(f"{name}: {len(problems)} problem(s){scope}")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(f"{name}: OK{scope}")
    bad += _print_leftovers(found)
    return 1 if bad else 0


COMMANDS = {"list": _list, "fetch": _fetch, "import": _import, "verify": _verify}
