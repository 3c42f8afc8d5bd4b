"""Runs the Digit Scenes demo (``make demo``, ``make demo-quick``).

What it trains and prints, and its options: ``--help`` and
projects/digit_scenes/README.md. Run it from the repository root, with the
root on ``PYTHONPATH`` (as ``make demo`` does)::

    PYTHONPATH=. python projects/digit_scenes/tools/akd_demo.py --quick
"""
import sys

from projects.digit_scenes.digit_scenes.demo import main

if __name__ == '__main__':
    sys.exit(main())
