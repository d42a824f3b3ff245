"""`tierkeeper crds`: print (or write) the CRDs generated from the models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from tierkeeper.models.crdgen import KINDS, crd


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("crds", help="print the CustomResourceDefinitions")
    parser.add_argument(
        "--output-dir", type=Path, help="write one file per CRD here instead of printing"
    )
    parser.set_defaults(func=run)


def crd_files() -> dict[str, str]:
    """File name → YAML text of every CRD, exactly as checked in under `crds/`."""
    return {
        f"{kind.plural}.yaml": yaml.safe_dump(crd(kind), sort_keys=False, width=100)
        for kind in KINDS
    }


def run(args: argparse.Namespace) -> int:
    files = crd_files()
    if args.output_dir is None:
        sys.stdout.write("---\n".join(files.values()))
        return 0
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.output_dir / name).write_text(text)
    return 0
