"""Hyperparameter search over pipeline configs with NNI (Microsoft Neural Network Intelligence).

``python -m easy_rec.hpo --pipeline_config x.config --search_space space.json --exp_dir D``
launches an NNI experiment on the local machine. The search space names config fields with
the ``--edit_config_json`` path syntax; every trial trains the config rewritten with the
values the tuner picked, reports the chosen metric at each evaluation, and records itself in
``D/hpo.sqlite``. ``python -m easy_rec.hpo report --exp_dir D`` ranks the trials, writes the
best trial's config and a plot. See docs/hpo.md.

Modules: `layout` (where things live in the experiment directory), `search_space`
(validation), `store` (the SQLite record), `launcher` (the NNI experiment), `trial` (what runs
in each trial process), `report` (table, best config, plot).
"""
