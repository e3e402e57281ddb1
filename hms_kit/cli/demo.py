"""``python -m hms_kit demo``: synthetic competition -> train kernel -> infer kernel -> score."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="demo folder")
    p.add_argument("--wheel", type=Path, required=True, help="the hms_kit wheel (make wheel)")
    p.add_argument("--n-eegs", type=int, default=300, help="synthetic training EEGs")
    p.add_argument(
        "--n-test", type=int, default=100, help="synthetic test EEGs (the submission's rows)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--config", default="default", help="config the kernels run (file or name)")
    p.add_argument(
        "--member",
        default="baseline",
        help="config of a second ensemble member trained on the same folds and blended with "
        "the first (file or name; 'none': one model)",
    )
    p.add_argument(
        "--kernels", type=Path, default=REPO / "kernels", help="folder of train.py, infer.py"
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.config import load_config, resolve_config_path
    from hms_kit.data import Competition
    from hms_kit.data.folds import folds_sha, make_folds, patient_folds
    from hms_kit.data.synth import generate_competition
    from hms_kit.ensemble import chosen_oof_kl
    from hms_kit.io import atomic_write_csv
    from hms_kit.tools.demo import (
        TRAIN_KERNEL_OUTPUT,
        layout_kaggle_tree,
        new_session,
        run_kernel,
        score_demo,
    )

    start = time.perf_counter()
    out = args.out
    comp = out / "competition"
    if _reusable(comp, args.n_eegs, args.n_test, args.seed):
        print(f"[1/4] synthetic competition: reusing {comp}")
    else:
        t = time.perf_counter()
        # an earlier synthetic competition (older generator, other size) is replaced; any
        # other non-empty folder is refused by the generator
        generate_competition(comp, n_eegs=args.n_eegs, seed=args.seed, n_test=args.n_test)
        print(
            f"[1/4] synthetic competition: {args.n_eegs} EEGs in {time.perf_counter() - t:.1f} s at {comp}"
        )
    _print_realism(comp, args.seed)
    _print_sample(comp, out / "balanced_train.csv")
    config_text = resolve_config_path(args.config).read_text()
    members = {TRAIN_KERNEL_OUTPUT: ("kaggle_train", config_text)}
    datasets = {}
    if args.member != "none":
        # both members train on one folds file, so their OOF line up and can be blended
        n_folds = load_config(args.config).train.n_folds
        folds = out / "folds" / "folds.csv"
        table = patient_folds(rows := Competition(comp).read_train(), make_folds(rows, n_folds, 42))
        atomic_write_csv(folds, table)
        datasets["hms-kit-folds"] = folds.parent
        member_text = _member_config(args.member, n_folds)
        members[f"{TRAIN_KERNEL_OUTPUT}-member2"] = ("kaggle_train_member2", member_text)
        print(f"      shared folds: {folds} ({n_folds} folds, sha {folds_sha(table)})")
    outputs = {}
    for i, (slug, (folder, text)) in enumerate(members.items()):
        root = out / folder
        resumed = new_session(root, args.wheel, text)
        layout_kaggle_tree(root, comp, args.wheel, text, datasets=datasets)
        print(
            f"[2/4] train kernel {i + 1} of {len(members)}: {args.kernels / 'train.py'} with root "
            f"{root}",
            flush=True,
        )
        if resumed:
            print(
                f"      resuming its earlier output (same wheel and config; rm -r {root} to start over)"
            )
        seconds = run_kernel(args.kernels / "train.py", root)
        print(f"      train kernel took {seconds / 60:.1f} min")
        outputs[slug] = root / "working"
    train_root = out / "kaggle_train"
    infer_root = out / "kaggle_infer"
    new_session(infer_root, args.wheel, config_text, resume=False)
    layout_kaggle_tree(infer_root, comp, args.wheel, config_text, outputs)
    print(f"[3/4] inference kernel: {args.kernels / 'infer.py'} with root {infer_root}", flush=True)
    seconds = run_kernel(args.kernels / "infer.py", infer_root)
    print(f"      inference kernel took {seconds:.1f} s")
    submission = infer_root / "working" / "submission.csv"
    scores = score_demo(comp, submission, train_root / "working" / "oof.csv")
    work = train_root / "working"
    from hms_kit.figures import write_figures

    if len(outputs) > 1:
        blend = _blend_line(list(outputs.values()), out / "blend")
        scores.best_single = blend["scores"]["best_single"]
        single_oof = scores.oof
        scores.oof, read_by = chosen_oof_kl(blend)

    figures = write_figures(Competition(comp), out / "figures", load_config(args.config).inputs)
    print(f"[4/4] scored {submission} against {comp / '_synth' / 'test_answers.csv'}")
    print(
        f"      figures: {work / 'lr.png'}, {work / 'confusion.png'}, "
        + ", ".join(str(f) for f in figures)
    )
    print(f"      log: {work / 'training_record.log'}; OOF: {work / 'oof.csv'}")
    print(f"      total {(time.perf_counter() - start) / 60:.1f} min")
    closed_oof, closed_sub = scores.gap_closed()
    what = "the ensemble's" if scores.best_single is not None else "OOF"
    print(
        f"      {what} KL {scores.oof:.4f} over rows with >= 10 votes (prior "
        f"{scores.oof_prior:.4f}, oracle {scores.oof_oracle:.4f} there: {closed_oof:.0%} of the "
        f"gap closed); {args.config}'s OOF KL over all rows {scores.oof_all:.4f}"
    )
    print(
        f"      test set (high-vote rows, like Kaggle's hidden test): submission closes "
        f"{closed_sub:.0%} of the prior-to-oracle gap; |submission - OOF| = "
        f"{abs(scores.submission - scores.oof):.4f}"
    )
    if scores.best_single is not None:
        print(
            f"      members' OOF on >= 10-vote rows: {single_oof:.4f} ({args.config}), best single "
            f"{scores.best_single:.4f}; the ensemble ({blend['chosen']}) {scores.oof:.4f} "
            f"({read_by}; the chosen candidate's own inner CV "
            f"{blend['candidates'][blend['chosen']]:.4f}) closes {closed_oof:.0%} of the gap"
        )
    print(scores.line())
    return 0


def _member_config(member: str, n_folds: int) -> str:
    """The second member's config.yaml: ``member`` (resolved) with the first member's fold
    count."""
    import yaml

    from hms_kit.config import load_config, to_dict

    cfg = load_config(member, [f"train.n_folds={n_folds}"])
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _blend_line(runs: list[Path], out: Path) -> dict:
    """The blend of the members' OOF as the inference kernel chooses it (logit, simplex, or
    the best single member, by inner-CV KL), written to ``out/blend.json``; prints the
    candidates."""
    import json

    from hms_kit.ensemble import BlendError, blend_population, choose_blend
    from hms_kit.io import atomic_write_text

    try:
        blend = choose_blend(runs, population=blend_population(runs), nested=True)
    except BlendError as exc:  # a tiny competition may hold its high-vote rows in one fold
        print(f"      no blend on the high-vote rows ({exc}): fitted on all rows")
        blend = choose_blend(runs, population="all", nested=True)
    atomic_write_text(out / "blend.json", json.dumps(blend, indent=1) + "\n")
    scores = ", ".join(f"{k} {v:.4f}" for k, v in blend["candidates"].items())
    print(
        f"      blend on {blend['n_rows']} {blend['population']} rows, inner-CV KL: {scores}; "
        f"chosen: {blend['chosen']} (weights {[round(w, 3) for w in blend['weights']]})"
    )
    return blend


def _print_realism(comp: Path, seed: int) -> None:
    """How realistic the competition is (``synth-report``'s table, kept in _synth/realism.md)."""
    from hms_kit.cli.synth_report import REAL_DIR
    from hms_kit.data import Competition
    from hms_kit.data.synth.realism import realism_report

    # label measures on a 5000-EEG plan: a few seconds, steadier than 300 EEGs
    path, table = realism_report(Competition(comp), seed, REAL_DIR, label_eegs=5000)
    missed = ", ".join(table.loc[~table["ok"], "measure"]) or "none"
    print(
        f"      realism: {int(table['ok'].sum())} of {len(table)} targets met (missed: {missed}); "
        f"table in {path}"
    )


def _print_sample(comp: Path, out: Path) -> None:
    """The seed's first step on the synthetic train.csv: class table and a balanced sample."""
    from hms_kit.data import balanced_sample, class_table, read_train_csv
    from hms_kit.io import atomic_write_csv
    from hms_kit.report import markdown_table

    train = read_train_csv(comp / "train.csv")
    print(markdown_table(class_table(train)))
    sample = balanced_sample(train, per_class=50, seed=42, allow_smaller=True)
    print(markdown_table(class_table(sample)))
    atomic_write_csv(out, sample)
    print(f"      balanced sample: {len(sample)} rows (50 per class) in {out}")


def _reusable(comp: Path, n_eegs: int, n_test: int, seed: int) -> bool:
    """True when ``comp`` holds this generator version's competition of this size and seed."""
    import json

    from hms_kit.data.synth.writer import GENERATOR_VERSION

    meta_path = comp / "_synth" / "synth.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    wanted = {"generator_version": GENERATOR_VERSION, "n_eegs": n_eegs, "n_test": n_test}
    return all(meta.get(k) == v for k, v in {**wanted, "seed": seed}.items())
