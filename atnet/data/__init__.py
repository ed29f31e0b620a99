"""Data preparation: the raw CASME II, SAMM and SMIC-HS releases (or the
authors' released features) -> a *prepared directory* that every later stage
reads.

Modules, in pipeline order:

- ``frames``     numeric frame ordering, reading frames with clear errors
- ``sheets``     the .xlsx annotation sheets (header search, typed cells)
- ``samples``    the Sample and Problem records every reader yields
- ``casme2``, ``samm``, ``smic``   one reader per release layout
- ``composite``  the MEGC2019 selection, its per-subject class counts, the
  ground-truth check
- ``face``       the face box (Haar cascade, margin, manual boxes) and crops
- ``flow``       the selectable dense optical-flow algorithms
- ``adm``        the 64 x 128 average direction-magnitude (ADM) feature
- ``sample_outputs``  one sample's apex face, feature and index row; the
  modules whose code is part of each sample's cache key
- ``prepare``    ``data_prep/prepare.py``: parallel, cached, atomic
- ``prepared``   the prepared directory: ``index.csv``, ``load_index``,
  ``load_face_clip``
- ``release``    the authors' release formats (apex list, optical text)
- ``synth``      synthetic releases in the exact layouts, for tests and demos
  (a package: ``clips`` presets and clip plans, ``render`` frames,
  ``write`` the dataset writers)
"""
