"""The command line: ``python -m hms_kit.publish <command> [options]`` (see the package
docstring; the Makefile's publishing targets pass their variables as these options)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import hms_kit.publish as package
from hms_kit.config import KAGGLE_CONFIGS
from hms_kit.publish.commands import (
    DEFAULT_RUNS_DIR,
    pull,
    push_dataset,
    push_kernel,
    status,
    submit,
    wait,
)
from hms_kit.publish.errors import PublishError
from hms_kit.publish.naming import (
    DATASET_CONFIG,
    DEFAULT_ACCELERATOR,
    KERNELS,
    TRAIN,
    parse_config_list,
    parse_fold_list,
)
from hms_kit.publish.render import DEFAULT_DATASET_SLUG
from hms_kit.publish.state import DEFAULT_MAX_PARALLEL

ENV_DATASET_SLUG = "DATASET_SLUG"
ENV_WEIGHTS_DATASET = "WEIGHTS_DATASET"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=".", help="repository root (default: .)")
    common.add_argument("--templates", default="kernel-metadata", help="metadata templates")
    common.add_argument("--kernels-dir", default="kernels", help="kernel code and config.yaml")
    common.add_argument("--build-dir", default="build/kaggle", help="rendered upload folders")
    common.add_argument("--dist-dir", default="dist", help="where `make wheel` writes the wheel")
    common.add_argument(
        "--dataset-slug",
        default=os.environ.get(ENV_DATASET_SLUG) or DEFAULT_DATASET_SLUG,
        help=f"wheel dataset slug (default: ${ENV_DATASET_SLUG} or {DEFAULT_DATASET_SLUG})",
    )
    common.add_argument(
        "--weights-dataset",
        default=os.environ.get(ENV_WEIGHTS_DATASET, ""),
        help=f"extra dataset of pretrained weights for the kernels (${ENV_WEIGHTS_DATASET})",
    )
    common.add_argument("--dry-run", action="store_true", help="print the client calls only")

    parser = argparse.ArgumentParser(prog="python -m hms_kit.publish", description=package.__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("push-dataset", parents=[common], help="upload the wheel + config.yaml")
    p.add_argument("--wheel", help="wheel to upload (default: dist/hms_kit-<version>-...whl)")
    p.add_argument("--message", help="version notes (default: git describe --always --dirty)")
    p.set_defaults(func=push_dataset)
    parallel = argparse.ArgumentParser(add_help=False)
    parallel.add_argument(
        "--max-parallel",
        type=int,
        default=DEFAULT_MAX_PARALLEL,
        help=f"GPU kernels running at once (default {DEFAULT_MAX_PARALLEL}, Kaggle's limit)",
    )
    pushers: dict[str, argparse.ArgumentParser] = {}
    for name, func, help_text, default_kernel, parents in (
        ("push-kernel", push_kernel, "push the train and/or infer kernel(s)", "all", [parallel]),
        ("status", status, "status of the kernels' latest runs", "all", []),
        ("pull", pull, "download a kernel's output into runs/<slug>/", TRAIN, []),
    ):
        p = sub.add_parser(name, parents=[common, *parents], help=help_text)
        p.add_argument("--kernel", choices=[*KERNELS, "all"], default=default_kernel)
        p.add_argument(
            "--folds",
            type=parse_fold_list,
            metavar="K,K,...",
            help="one train kernel per fold (<train slug>-fold<k>), attached to the infer "
            "kernel (default: one train kernel for all folds)",
        )
        p.add_argument(
            "--configs",
            "--config",
            dest="configs",
            type=parse_config_list,
            action="extend",
            metavar="NAME,NAME,...",
            help="one train kernel per packaged config (hms-kit-train-<name>, its code's "
            "SETTINGS line names it), all attached to the infer kernel (default: "
            f"{','.join(KAGGLE_CONFIGS)}; '{DATASET_CONFIG}': the dataset's config.yaml in "
            "the plain hms-kit-train kernel)",
        )
        p.set_defaults(func=func)
        pushers[name] = p
    p = pushers["push-kernel"]
    p.add_argument(
        "--accelerator",
        help=f"machine_shape of the sessions (default: the template's, {DEFAULT_ACCELERATOR})",
    )
    p.add_argument(
        "--session-timeout",
        type=int,
        metavar="SECONDS",
        help="stop each session after this long (the client's kernels push --timeout)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="attach each train kernel's own output, so a new version continues the last",
    )
    p.add_argument(
        "--pin-train",
        action="store_true",
        help="attach the train kernels at the versions `wait` saw complete (owner/slug/N)",
    )
    p = pushers["pull"]
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR, help="where run folders go (runs)")
    p.add_argument(
        "--version",
        type=int,
        help="kernel version to pull (default: the one pushed from here, else the latest)",
    )
    p.add_argument(
        "--allow-failed",
        action="store_true",
        help="pull a kernel that ended with an error too (its output may be partial)",
    )
    p = sub.add_parser(
        "wait", parents=[common, parallel], help="wait for the pushed dataset and kernels"
    )
    p.add_argument("--poll", type=float, default=60.0, help="seconds between polls (60)")
    p.add_argument(
        "--timeout", type=float, default=12 * 3600.0, help="give up after seconds (43200)"
    )
    p.add_argument("--log-lines", type=int, default=30, help="log lines shown on error (30)")
    p.set_defaults(func=wait)
    p = sub.add_parser("submit", parents=[common], help="submit the infer kernel's output")
    p.add_argument("--message", help="submission description")
    p.add_argument("--version", type=int, help="infer kernel version (default: last pushed)")
    p.set_defaults(func=submit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns its exit status (2 on PublishError)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
