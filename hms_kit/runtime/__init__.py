"""What the Kaggle kernels run: ``settings`` (where a kernel's settings come from),
``train`` (the train kernel), ``infer`` (the inference kernel). The scripts in ``kernels/``
install the wheel and call :func:`run_train_kernel` or :func:`run_infer_kernel`.

This package never imports the ``kaggle`` client, the publisher (``hms_kit.publish``) or the
measurement tools (``hms_kit.tools``): tests/test_imports.py checks it.
"""

from hms_kit.runtime.infer import CommitRunError, run_infer_kernel
from hms_kit.runtime.train import run_train_kernel

__all__ = ["CommitRunError", "run_infer_kernel", "run_train_kernel"]
