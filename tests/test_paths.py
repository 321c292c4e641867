"""No tracked file holds an absolute path of the machine it was written on: a path into the folder
that holds the checkout, into the temporary folder or into the home folder. A reader who clones the
repository has none of them; published commands use a path a reader can type (``data.dir=path/to/mnist``,
``hydra.sweep.dir=<dir>``)."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

from helpers import ROOT


def machine_folders():
    """The absolute folders no tracked file may name, each as it is and with symlinks resolved."""
    folders = {ROOT.resolve().parent, Path(tempfile.gettempdir()), Path("/", "tmp"), Path.home()}
    folders |= {folder.resolve() for folder in folders}
    return sorted({str(folder) for folder in folders if str(folder) != "/"}, key=len, reverse=True)


def tracked_text_files():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in names.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:            # binary: images, weights
            continue
        yield name, data.decode("utf-8", errors="replace")


def test_no_tracked_file_holds_an_absolute_machine_path():
    # a folder followed by the end of the path or a separator: <folder> and <folder>/x, not <folder>shop
    pattern = re.compile("(?:" + "|".join(re.escape(f) for f in machine_folders()) + r")(?=$|[/\\\s\"'`),:;|\]])",
                         re.M)
    found = {}
    for name, text in tracked_text_files():
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                found.setdefault(name, []).append(f"{number}: {line.strip()[:160]}")
    report = "\n".join(f"{name}:\n  " + "\n  ".join(lines[:3]) for name, lines in sorted(found.items()))
    folders = os.pathsep.join(machine_folders())
    assert not found, f"{len(found)} tracked files hold absolute machine paths ({folders}):\n{report}"
