"""Training entry points of the algorithm's models (``python -m algorithm train <task> ...``).

:mod:`algorithm.training.segmentation` trains the Task 1 segmentation model; its helpers are
``seg_data`` (find cases, fold splits, cached preprocessing), ``seg_sampling`` (class-balanced patches
and augmentation), ``seg_metrics`` (validation Dice) and ``seg_loop`` (one fold's training loop).
"""
