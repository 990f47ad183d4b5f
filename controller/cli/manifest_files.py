"""Reading manifests: files and folders, standard input (`-`) and rendered kustomizations
(`kubectl kustomize`), parsed by controller/core/manifests.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from controller.core.manifests import STDIN, STDIN_NAME, Document, InputError, LoadError, from_bytes


def _files(paths: Iterable[str | Path], *, recursive: bool) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            out += sorted(f for f in p.glob(pattern) if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
        else:
            out.append(p)
    return out


def kustomize(directory: str | Path, *, kubectl: str | None = None) -> tuple[list[Document], list[LoadError]]:
    """The documents `kubectl kustomize DIR` renders, named "kustomize:DIR"; InputError when kubectl
    is not on PATH or the kustomization does not build."""
    exe = kubectl or shutil.which("kubectl")
    if exe is None:
        raise InputError(f"-k {directory}: kubectl is not on PATH (needed for `kubectl kustomize`); "
                         "install kubectl or pipe `kustomize build DIR` into -f -")
    try:
        done = subprocess.run([exe, "kustomize", str(directory)], capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"-k {directory}: running kubectl kustomize: {err}") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"-k {directory}: kubectl kustomize failed (exit {done.returncode}): "
                         f"{why[-1] if why else 'no message'}")
    return from_bytes(done.stdout, f"kustomize:{directory}")


def load(paths: Iterable[str | Path], *, recursive: bool = False, kustomizations: Iterable[str | Path] = (),
         stdin: Any = None) -> tuple[list[Document], list[LoadError]]:
    """Documents of files, folders, "-" (standard input, read once; `stdin` overrides sys.stdin for
    tests) and kustomization folders (InputError when one cannot be rendered)."""
    docs: list[Document] = []
    errors: list[LoadError] = []
    read_stdin = False
    for item in paths:
        if str(item) == STDIN:
            if read_stdin:
                continue  # `-f - -f -`: standard input has been read once already
            read_stdin = True
            stream = stdin if stdin is not None else sys.stdin.buffer
            d, e = from_bytes(stream.read(), STDIN_NAME)
            docs += d
            errors += e
            continue
        for f in _files([item], recursive=recursive):
            try:
                data = f.read_bytes()
            except OSError as err:
                errors.append(LoadError(str(f), 0, f"cannot read: {err.strerror}"))
                continue
            d, e = from_bytes(data, str(f))
            docs += d
            errors += e
    for directory in kustomizations:
        d, e = kustomize(directory)
        docs += d
        errors += e
    return docs, errors
