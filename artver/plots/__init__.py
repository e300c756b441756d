"""Plots as DVC draws them: definitions from artver.yaml, data files, Vega-Lite specs, one page.

`definitions` (what to plot: pure), `readers` (data files' bytes -> rows: pure), `datapoints`
(rows of several files and revisions -> one table: pure), `templates` (a Vega-Lite spec per
template: pure), `render` (the page and image files: the only module that imports vl_convert).
Reading files of the workspace or of a Git revision is `artver.ops.plots`.
"""
