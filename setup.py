"""hms_kit: a pure-Python wheel (hms_kit-<version>-py3-none-any.whl).

Runtime requirements are packages Kaggle's Python image already has, so a kernel installs
the wheel offline with ``pip install --no-index --no-deps``.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(
    r'__version__ = "([^"]+)"', (Path(__file__).parent / "hms_kit" / "__init__.py").read_text()
).group(1)

setup(
    name="hms_kit",
    version=VERSION,
    description="Kit for Kaggle's HMS - Harmful Brain Activity Classification",
    long_description=(Path(__file__).parent / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["hms_kit", "hms_kit.*"]),
    package_data={"hms_kit": ["configs/*.yaml"]},
    python_requires=">=3.10",
    # Lower bounds = tests/compat/floor.txt, where `make test-compat` runs the suite (why each
    # is where it is: comments there).
    install_requires=[
        # 2.4: the oldest that resumes (hms_kit.checkpoint.MIN_TORCH; not in floor.txt: torch
        # is served from disk here at the Makefile's TORCH_PIN only)
        "torch>=2.4,<=2.14.1",
        "torchvision",
        "timm>=1.0.8",
        "numpy>=1.26",
        "pandas>=2.0.3",
        "pyarrow>=12",
        "PyWavelets>=1.4.1",
        "albumentations>=1.4.0",
        "scikit-learn>=1.2.2",
        "threadpoolctl>=2.0",  # scikit-learn's own; hms_kit.baseline limits its pools
        "scipy>=1.10",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "PyYAML>=6.0.1",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-xdist>=3", "ruff>=0.4", "kaggle>=2.2.5", "six", "build"]
    },
    entry_points={"console_scripts": ["hms-kit=hms_kit.cli:main"]},
)
