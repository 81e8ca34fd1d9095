"""Builders run from a checkout, outside the wheel: the label mapping of the training and
evaluation corpora (`datasets.py`), the default evaluation set (`build_eval_set.py`), the
default text classifier (`build_default_classifier.py`, pinned by
`build-requirements.lock`), the team-written data (`team_data.py`) and the GitHub
Action's dry run (`action_dry_run.py`).

Each script adds the repository root to `sys.path` itself, so it runs as
`python tools/<script>.py` with only the core install.
"""
