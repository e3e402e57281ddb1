"""Publishing to Kaggle: the wheel dataset, the train/infer kernels, status and submission.

``python -m hms_kit.publish push-dataset | push-kernel [--kernel train|infer|all]
[--folds 0,1,2] [--configs NAME,...] | wait | pull | status [--kernel ...] [--folds ...]
[--configs ...] | submit [--message M] [--version N]`` (the Makefile's ``push-dataset``,
``push-kernel``, ``wait``, ``pull``, ``status`` and ``submit`` targets call it).

Templates live in ``kernel-metadata/<name>/`` with two placeholders, ``{username}`` (the
Kaggle username, found at push time and never committed) and ``{dataset_slug}`` (the wheel
dataset, ``hms-kit-wheel`` unless ``DATASET_SLUG`` / ``--dataset-slug`` says otherwise). Each
push renders a complete upload folder under ``build/kaggle/<name>/`` and checks it before the
``kaggle`` client is asked anything, so a missing file or credential stops the push before
anything reaches Kaggle.

The dataset is private and licensed CC0-1.0 (the client's own default licence name, which
Kaggle accepts): it holds only this kit's wheel and its config, no competition data.
``WEIGHTS_DATASET`` (``owner/slug``, or ``slug`` for one of your own datasets) attaches a
dataset of pretrained weights to both kernels.

One train kernel per config: without ``--configs`` the packaged recipes for Kaggle's T4s,
``hms_kit.config.KAGGLE_CONFIGS`` (``kaggle-eeg1d``, ``kaggle-spec2d``, ``kaggle-timm2d``);
``--configs default,seed`` (``make push-kernel CONFIGS=default,seed``, or ``--config seed`` /
``CONFIG=seed`` for one) chooses others. Each config's train kernel is pushed as
``hms-kit-train-<name>`` (title ``HMS Kit Train <name>``, rendered in
``build/kaggle/train-<name>/``), its code ``kernels/train.py`` with the marked ``SETTINGS``
line holding ``"config": "<name>"`` (a Kaggle kernel cannot set environment variables), so
the kernel runs the packaged config from the wheel and ignores the dataset's config.yaml.
The name ``dataset`` stands for that config.yaml instead: the plain ``hms-kit-train`` kernel,
its code unchanged. The infer kernel attaches every config's train kernel(s), config by
config, and blends them. Names are checked before any request: packaged, loadable,
lower-case words joined by ``-``.

``--folds 0,1,2`` (``make push-kernel FOLDS=0,1,2``) trains folds in parallel: each config's
train kernel is pushed once per fold as ``<train slug>-fold<k>`` (rendered in
``build/kaggle/<train name>-fold<k>/``, ``"folds": "<k>"`` in its ``SETTINGS`` line), and the
infer kernel attaches every fold kernel. The folds must exist in every config given (for
``dataset``: ``kernels/config.yaml``). Without ``--folds`` one train kernel trains all of
its config's folds.

Kaggle runs at most two GPU batch sessions at a time (and about 30 GPU hours a week), so
``push-kernel`` starts at most ``--max-parallel`` (2) GPU kernels and writes the rest to
``build/kaggle/queue.json``; an infer kernel pushed with train kernels always waits there
for them, since it attaches their finished output. ``wait`` polls the pushed dataset
(ready) and kernels (complete or error, with Kaggle's failure message and the tail of the
log on error) and pushes the next queued kernel whenever a
running one finishes (write-ahead: a kernel is marked ``pushing`` in the queue before its
push and removed once the push is recorded, so an interrupted ``wait`` never pushes it
twice; the kernel's newest version, asked before the push, tells that push's version from
older ones). ``pull`` downloads a train kernel's output into
``runs/<kernel slug>/``: the version pushed from here, once Kaggle calls it complete.

Each push sends ``machine_shape`` (``NvidiaTeslaT4``, the T4 x2 GPU, unless
``--accelerator`` says otherwise: without it the session type is Kaggle's choice) and pins
the Docker image (``docker_image_pinning_type: original``) so later versions keep the image
the kernel first ran on. Sources may be pinned to a version (``owner/slug/N``).

The package: ``naming`` (slugs, titles, sources, configs: pure), ``render`` (upload folders
and their checks), ``state`` (push records and the GPU queue), ``client`` (the only importer
of ``kaggle``: ``KaggleApi`` called directly, authenticated once), ``commands`` (what each
command does) and ``cli`` (the argument parser). The runtime the kernels run
(``hms_kit.runtime``) imports none of it.
"""

from hms_kit.publish.client import (
    Credentials,
    KaggleClient,
    find_credentials,
    find_username,
)
from hms_kit.publish.commands import git_describe, log_tail, pull_output, push_one
from hms_kit.publish.errors import PublishError
from hms_kit.publish.naming import (
    DATASET_CONFIG,
    KERNELS,
    KernelTarget,
    check_accelerator,
    check_config_name,
    check_session_timeout,
    kernel_targets,
    parse_config_list,
    parse_fold_list,
    pinned,
    source_problem,
    train_slug,
)
from hms_kit.publish.render import (
    check_dataset_folder,
    check_kernel_folder,
    render_dataset_metadata,
    render_kernel_metadata,
    settings_line,
    with_settings,
)
from hms_kit.publish.state import (
    Queued,
    pushable,
    read_queue,
    read_record,
    write_queue,
    write_record,
)

__all__ = [
    "DATASET_CONFIG",
    "KERNELS",
    "Credentials",
    "KaggleClient",
    "KernelTarget",
    "PublishError",
    "Queued",
    "check_accelerator",
    "check_config_name",
    "check_dataset_folder",
    "check_kernel_folder",
    "check_session_timeout",
    "find_credentials",
    "find_username",
    "git_describe",
    "kernel_targets",
    "log_tail",
    "parse_config_list",
    "parse_fold_list",
    "pinned",
    "pull_output",
    "push_one",
    "pushable",
    "read_queue",
    "read_record",
    "render_dataset_metadata",
    "render_kernel_metadata",
    "settings_line",
    "source_problem",
    "train_slug",
    "with_settings",
    "write_queue",
    "write_record",
]
