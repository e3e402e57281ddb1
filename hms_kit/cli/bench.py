"""``python -m hms_kit bench``: benchmarks, written to BENCHMARKS.md."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hms_kit.cli.common import add_competition_argument, add_config_arguments, config_from_args
from hms_kit.report import marked_section, splice_section

if TYPE_CHECKING:
    import pandas as pd


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    p.add_argument("--tiny", action="store_true", help="a few rows only (for tests)")
    p.add_argument(
        "--n-eegs", type=int, default=120, help="synthetic EEGs when no competition is given"
    )
    p.add_argument(
        "--scale",
        default=None,
        help="cost at scale instead: comma-separated train EEG counts (e.g. 300,1200,4800); "
        "writes the '5 cost at scale' section of --out, keeping the rest of the file",
    )
    p.add_argument("--work-dir", type=Path, default=None, help="scale: scratch folder")
    p.add_argument("--row-modes", default=None, help="scale: row modes (default all three)")
    p.add_argument("--features", default=None, help="scale: modalities (default all)")
    p.add_argument("--gen-workers", type=int, default=None, help="scale: synth processes")
    p.add_argument(
        "--max-test", type=int, default=2000, help="scale: test EEGs at most (n // 5 per size)"
    )
    p.add_argument(
        "--no-full-labels",
        action="store_true",
        help="scale: skip the label-table stages at the full size (17,089 EEGs, no signals)",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="scale: run the stages in this process (quick, for tests; peaks not per stage)",
    )
    p.add_argument("--scale-json", type=Path, default=None, help="scale: raw figures as JSON")
    p.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="scale: render the section from a --scale-json file instead of measuring",
    )
    p.add_argument(
        "--quality",
        action="store_true",
        help="learning curves instead (issue 21): each family's CPU config at the --plan's "
        "sizes and seeds; writes the '7 learning curves' section of --out and "
        "benchmarks/learning_curve.png; resumable in --work-dir",
    )
    p.add_argument(
        "--plan",
        default=None,
        help="quality: 'N:SEEDS[:FAMILIES] ...', e.g. '300:13,14 1200:13:baseline,eeg1d' "
        "(default: the issue's plan, hms_kit.tools.quality.DEFAULT_PLAN)",
    )
    p.add_argument("--threads", type=int, default=2, help="quality: torch threads per run")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="quality: the table and plot of the runs finished so far; trains nothing",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="quality: what the plan costs, measured for finished runs and projected for the "
        "rest from finished runs' minutes per fold (linear in N); trains and writes nothing",
    )
    p.add_argument(
        "--compare",
        default=None,
        metavar="A:B",
        help="quality: family or variant B against A on the plan's points where both have "
        "finished, B - A on >= 10-vote OOF rows and on the test set with 95 %% patient "
        "bootstrap intervals, per point and their mean; trains and writes nothing",
    )
    p.add_argument(
        "--blend",
        default=None,
        metavar="[A:]B",
        help="quality: the blend of members B (comma-separated families or variants, e.g. "
        "'baseline,eeg1d,spec2d,timm2d-scale05') against the blend of A (default: the four "
        "families) on the plan's points where all have finished: OOF and test KL, B - A on "
        "the test set with a 95 %% patient bootstrap interval; trains and writes nothing",
    )
    p.add_argument(
        "--blend-of",
        default=None,
        metavar="MEMBERS",
        help="quality: the table's blend row is the blend of these members (comma-separated "
        "families or variants of each point's plan, e.g. "
        "'baseline-morph,eeg1d-chain-s2-seeds2-tta,timm2d-scale05') in place of the "
        "families' blend",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=Path("benchmarks/learning_curve.png"),
        help="quality: the plot (share of the gap closed against N)",
    )
    add_config_arguments(p)


SCALE_START = "<!-- scale:start -->"
SCALE_END = "<!-- scale:end -->"


def splice_scale(text: str, section: str) -> str:
    """``text`` (BENCHMARKS.md) with its scale section replaced by ``section`` (or appended)."""
    return splice_section(text, section, SCALE_START, SCALE_END)


def scale_section(text: str) -> str:
    """The scale block of ``text`` (markers included), or ``""``."""
    return marked_section(text, SCALE_START, SCALE_END)


def scale_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this scale run (printed at the top of the section)."""
    import shlex

    parts = ["python -m hms_kit bench --scale", args.scale, "--out", str(args.out)]
    for flag, value in (
        ("--config", args.config),
        ("--work-dir", args.work_dir),
        ("--row-modes", args.row_modes),
        ("--features", args.features),
        ("--gen-workers", args.gen_workers),
        ("--scale-json", args.scale_json),
    ):
        if value is not None:
            parts += [flag, str(value)]
    parts += [f"--set {o}" for o in args.overrides]
    if args.max_test != 2000:
        parts += ["--max-test", str(args.max_test)]
    parts += [
        f
        for f, on in (("--in-process", args.in_process), ("--no-full-labels", args.no_full_labels))
        if on
    ]
    return " ".join(shlex.quote(p) if " " not in p else p for p in parts)


def run_scale_command(args: argparse.Namespace) -> int:
    import shutil
    import sys
    import tempfile

    from hms_kit.io import atomic_write_text
    from hms_kit.tools.bench_scale import run_scale
    from hms_kit.tools.scale_report import from_json, render, to_json

    if args.from_json:
        section = render(from_json(args.from_json.read_text()))
        old = args.out.read_text() if args.out.is_file() else ""
        atomic_write_text(args.out, splice_scale(old, section))
        print(section)
        return 0

    try:
        sizes = sorted({int(s) for s in args.scale.split(",") if s.strip()})
    except ValueError:
        print(f"error: --scale takes comma-separated integers, got {args.scale!r}", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 1:
        print(f"error: --scale needs sizes >= 1, got {args.scale!r}", file=sys.stderr)
        return 2
    # without --work-dir the competitions are scratch (gigabytes at the larger sizes), removed
    # after; a --work-dir is kept, so an interrupted run resumes there
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="hms_bench_scale_"))
    command = scale_command(args)
    try:
        report = run_scale(
            sizes,
            work,
            config=args.config or "kaggle",
            overrides=args.overrides,
            row_modes=args.row_modes.split(",") if args.row_modes else None,
            features=args.features.split(",") if args.features else None,
            gen_workers=args.gen_workers,
            max_test=args.max_test,
            isolate=not args.in_process,
            full_labels=not args.no_full_labels,
            command=command,
            log=lambda line: print(line, flush=True),
            on_size=lambda r: args.scale_json and atomic_write_text(args.scale_json, to_json(r)),
        )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    section = render(report)
    old = args.out.read_text() if args.out.is_file() else ""
    atomic_write_text(args.out, splice_scale(old, section))
    if args.scale_json:
        atomic_write_text(args.scale_json, to_json(report))
    print(section)
    print(f"wrote {args.out}")
    return 0


def _table_or_error(compute: Callable[[], pd.DataFrame]) -> pd.DataFrame | None:
    """``compute()``'s table, or None once its error (a bad plan, an unfinished or stale
    run) is printed: the caller exits 1."""
    import sys

    try:
        return compute()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def print_comparison(
    work: Path, points: list, pair: str, overrides: list[str] | None = None
) -> int:
    """``bench --quality --compare A:B``: ``quality.compare_families``'s table, one line a
    point and split."""
    import sys

    import pandas as pd

    from hms_kit.tools import quality

    a, _, b = pair.partition(":")
    known = [*quality.FAMILY_CONFIGS, *quality.VARIANTS]
    bad = [f for f in (a, b) if f not in known]
    if bad or not b:
        print(f"error: --compare {pair!r}: want A:B of {', '.join(known)}", file=sys.stderr)
        return 2
    table = _table_or_error(
        lambda: quality.compare_families(work, points, a, b, overrides=overrides)
    )
    if table is None:
        return 1
    print(f"{b} - {a} (negative: {b} is better), 95 % intervals from patients resampled")
    for r in table.itertuples():
        mark = "tie" if r.tie else ("B better" if r.diff < 0 else "A better")
        sd = "" if pd.isna(r.sd_diff) else f", sd over points {r.sd_diff:.4f}"
        print(f"  {r.split:4s} {r.point:12s} {r.rows:5d} rows {r.patients:3d} patients  "
              f"{a} {r.kl_a:.4f}  {b} {r.kl_b:.4f}  B - A {r.diff:+.4f} "
              f"[{r.low:+.4f}, {r.high:+.4f}] {mark}{sd}")  # fmt: skip
    return 0


def print_blend_comparison(
    work: Path, points: list, pair: str, overrides: list[str] | None = None
) -> int:
    """``bench --quality --blend [A:]B``: ``quality.compare_blends``'s table, a line a point."""
    import sys

    from hms_kit.tools import quality

    a_text, colon, b_text = pair.rpartition(":")
    a = [m for m in a_text.split(",") if m] if colon else list(quality.FAMILY_CONFIGS)
    b = [m for m in b_text.split(",") if m]
    known = [*quality.FAMILY_CONFIGS, *quality.VARIANTS]
    bad = [m for m in (*a, *b) if m not in known]
    if bad:
        print(f"error: --blend {pair!r}: unknown member {bad[0]!r} (known: {', '.join(known)})",
              file=sys.stderr)  # fmt: skip
        return 2
    for side, members in (("A", a), ("B", b)):
        if len(set(members)) < 2:
            print(f"error: --blend {pair!r}: {side} needs two members or more, comma-separated",
                  file=sys.stderr)  # fmt: skip
            return 2
    table = _table_or_error(lambda: quality.compare_blends(work, points, a, b, overrides=overrides))
    if table is None:
        return 1
    print(f"A: blend of {'+'.join(a)}\nB: blend of {'+'.join(b)}\n"
          "OOF: >= 10-vote rows, the blend's nested-CV KL (and the chosen candidate's inner-CV "
          "share); test: B - A (negative: B is better), 95 % interval from patients "
          "resampled")  # fmt: skip
    for r in table.itertuples():
        mark = "tie" if r.tie else ("B better" if r.diff < 0 else "A better")
        chosen = [f"{name} " if name else "" for name in (r.chosen_a, r.chosen_b)]
        print(f"  {r.point:12s} OOF {r.oof_a:.4f} ({r.oof_closed_a:.1%}; {chosen[0]}chosen "
              f"{r.oof_chosen_closed_a:.1%}) -> {r.oof_b:.4f} ({r.oof_closed_b:.1%}; {chosen[1]}"
              f"chosen {r.oof_chosen_closed_b:.1%})  test {r.test_a:.4f} ({r.test_closed_a:.1%}) "
              f"-> {r.test_b:.4f} ({r.test_closed_b:.1%})  B - A {r.diff:+.4f} "
              f"[{r.low:+.4f}, {r.high:+.4f}] {mark}")  # fmt: skip
    return 0


def timed_step(family: str, overrides: list[str], threads: int) -> float | None:
    """A family's training step in seconds, as its runs would train it (the plan's
    ``--set``, ``--threads``); None, with a line on stderr, where the model cannot be built
    or run here: its projection is then left unscaled, and the run itself says why."""
    import sys

    from hms_kit.tools import quality

    try:
        return quality.family_step_seconds(family, overrides, threads)
    except Exception as exc:  # an estimate must not stop the plan it estimates
        print(f"warning: {family}: a training step not timed ({exc}): its projection is "
              "not scaled by its model", file=sys.stderr)  # fmt: skip
        return None


def run_quality_command(args: argparse.Namespace) -> int:
    import os
    import sys

    from hms_kit.io import atomic_write_csv, atomic_write_text
    from hms_kit.tools import quality

    try:
        points = quality.parse_plan(args.plan or quality.DEFAULT_PLAN)
    except ValueError as exc:
        print(f"error: --plan: {exc}", file=sys.stderr)
        return 2
    work = args.work_dir or Path("bench_quality")
    if args.blend_of is not None and (args.compare is not None or args.blend is not None):
        print("error: --blend-of sets the table's blend row: not with --compare or --blend, "
              "which print comparisons", file=sys.stderr)  # fmt: skip
        return 2
    # an empty value is a typo, not a request to train the whole plan
    if args.compare is not None:
        return print_comparison(work, points, args.compare, args.overrides)
    if args.blend is not None:
        return print_blend_comparison(work, points, args.blend, args.overrides)
    sets = "".join(f" --set {o}" for o in args.overrides)
    command = "python -m hms_kit bench --quality" + (f" --plan '{args.plan}'" if args.plan else "")
    command += sets
    blend_of = None
    if args.blend_of is not None:
        # a member named twice counts once, as in --blend
        blend_of = list(dict.fromkeys(m.strip() for m in args.blend_of.split(",") if m.strip()))
        known = list(quality.registry())
        # a point holding some of them blends those, named by them (a row of its own); one
        # in no point of the plan is a typo
        bad = [f"{m!r} (known: {', '.join(known)})" for m in blend_of if m not in known]
        bad += [f"{m!r} is in no point of the plan" for m in blend_of
                if m in known and not any(m in p.families for p in points)]  # fmt: skip
        if len(blend_of) < 2:
            bad.append("two members or more, comma-separated")
        if bad:
            print(f"error: --blend-of {args.blend_of!r}: {bad[0]}", file=sys.stderr)
            return 2
        command += f" --blend-of {','.join(blend_of)}"
    print(f"learning curves: {len(points)} points in {work} (finished runs are kept)", flush=True)
    # a variant whose model differs from the finished run it is projected from is scaled by
    # a few training steps of each, timed here (seconds; nothing written)
    cost = quality.plan_minutes(
        work,
        points,
        step_cost=lambda family: timed_step(family, args.overrides, args.threads),
        overrides=args.overrides,
    )
    if args.estimate:
        print(cost.to_string(index=False, float_format=lambda m: f"{m:.2f}", na_rep="-"))
    measured, projected = cost["status"] == "measured", cost["status"] == "projected"
    unknown = int(cost["status"].eq("unknown").sum())
    print(f"{int(measured.sum())} runs measured ({cost['minutes'][measured].sum():.0f} min), "
          f"{int((~measured).sum())} to train: {int(projected.sum())} projected at "
          f"{cost['minutes'][projected].sum():.0f} min (from finished runs' min/fold, linear "
          "in N; a variant never run from a run of its inputs and model, else its family's "
          "times the ratio of a training step of each timed here, by seeds and epochs, less "
          "a repeated variant's first seed where its single run has finished)"
          + (f", {unknown} with no finished run of their family to go by" if unknown else ""),
          flush=True)  # fmt: skip
    if args.estimate:
        return 0
    try:
        results = quality.run_plan(
            work, points, threads=args.threads, overrides=args.overrides,
            log=lambda line: print(line, flush=True), train=not args.report_only,
            blend_of=blend_of,
        )  # fmt: skip
    except (RuntimeError, ValueError) as exc:  # a run that failed; a blend of runs that misfit
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.plan is None:
        # the optional point, once measured (its own --plan), stays in the default plan's
        # table: read back, never trained here
        optional_points = quality.parse_plan(quality.OPTIONAL_PLAN)
        # its blend row: of the --blend-of members it holds (none: no row)
        optional_blend = None if blend_of is None else [
            m for m in blend_of if any(m in p.families for p in optional_points)
        ]  # fmt: skip
        optional = quality.run_plan(
            work, optional_points, overrides=args.overrides, log=lambda line: None,
            train=False, blend_of=optional_blend,
        )  # fmt: skip
        if optional:
            results += optional
            command += f"; python -m hms_kit bench --quality --plan '{quality.OPTIONAL_PLAN}'"
            command += sets
            if optional_blend is not None and len(optional_blend) >= 2:
                command += f" --blend-of {','.join(optional_blend)}"
            print(f"and the optional point's rows: {len(optional)} "
                  f"(--plan '{quality.OPTIONAL_PLAN}')", flush=True)  # fmt: skip
    table = quality.summary_table(results)
    if table.empty:
        print(f"error: no run of the plan has finished in {work}", file=sys.stderr)
        return 1
    csv = work / quality.table_name(points)
    atomic_write_csv(csv, table)
    figure = quality.plot_curves(table, args.figure)
    # the per-seed rows go beside the plot (committed with it), not only into the work folder
    runs_csv = figure.with_name(f"{figure.stem}_runs.csv")
    atomic_write_csv(runs_csv, quality.runs_frame(results))
    here = args.out.resolve().parent
    section = quality.render_section(
        table,
        command,
        os.path.relpath(figure, here),
        os.path.relpath(runs_csv, here),
        quality.plan_threshold(args.overrides),
    )
    old = args.out.read_text() if args.out.is_file() else ""
    atomic_write_text(args.out, quality.splice(old, section))
    print(section)
    print(f"wrote {args.out}, {figure}, {runs_csv} and {csv}")
    return 0


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from hms_kit.data import Competition
    from hms_kit.io import atomic_write_text
    from hms_kit.tools.bench import render, run_benchmarks

    if args.quality:
        return run_quality_command(args)
    if args.scale or args.from_json:
        return run_scale_command(args)
    if args.config is None:
        args.config = "kaggle"  # what the kernels run on Kaggle
    cfg = config_from_args(args)
    cfg.model.pretrained = False  # benchmarks never download weights
    if args.competition:
        report = run_benchmarks(Competition.locate(args.competition), cfg, tiny=args.tiny)
    else:
        from hms_kit.data.synth import generate_competition

        tmp = Path(tempfile.mkdtemp(prefix="hms_bench_synth_"))
        try:  # the synthetic competition is scratch: tens of MB left in /tmp a call otherwise
            generate_competition(tmp, n_eegs=20 if args.tiny else args.n_eegs, seed=0)
            report = run_benchmarks(Competition(tmp), cfg, tiny=args.tiny)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    from hms_kit.tools.gpu_check import GPU_START
    from hms_kit.tools.quality import QUALITY_START

    text = render(report)
    old = args.out.read_text() if args.out.is_file() else ""
    # the scale, GPU and quality sections come from their own runs (long, or on a device),
    # and so do the notes written between and after them: everything from the first is kept
    marks = [old.index(m) for m in (SCALE_START, GPU_START, QUALITY_START) if m in old]
    if marks:
        text = text.rstrip() + "\n\n" + old[min(marks) :].rstrip() + "\n"
    atomic_write_text(args.out, text)
    print(text)
    print(f"wrote {args.out}")
    return 0
