"""The hand-crafted baselines of Tables II and III: LBP-TOP and HOOF with a
degree-2 polynomial SVM (atnet.md section 5).

- ``tim``: temporal normalisation of a clip (Temporal Interpolation Model, or
  linear interpolation) and the choice of frames around the apex.
- ``lbptop``: LBP-TOP histograms on the XY, XT and YT planes.
- ``hoof``: histograms of oriented optical flow, one per flow step.
- ``features``: per-clip features from a prepared directory (cached, in the
  authors' release format) and the reader of release-format ``.mat`` files.
- ``classify``: the SVM under CDE / HDE folds, with optional inner
  leave-one-subject-out tuning on the training subjects only.
- ``runner``: one configuration end to end into an evaluate-format run dir.

``docs/baselines.md`` explains the choices (TIM, the LBP bin mapping, the HOOF
binning, the SVM settings).
"""
