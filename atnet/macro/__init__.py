"""Macro-expression pre-training of the spatial stream (docs/pretraining.md): the CK+,
Oulu-CASIA NIR&VIS, JAFFE and MUG releases -> a prepared macro directory -> a pre-trained
ResNet-10 that tools/train.py --weights loads into the micro nets.

Modules, in pipeline order:

- ``labels``      the canonical vocabulary and the label sets basic6, basic7, ck8, 3class
- ``sequences``   the Sequence and MacroScan records, layout helpers
- ``ckplus``, ``oulu``, ``jaffe``, ``mug``   one reader per release layout
- ``select``      frames (last K / MUG window / neutral), labels, subject-disjoint split, counts
- ``outputs``     one sequence's face box and crops (worker side)
- ``prepare``     ``data_prep/prepare_macro.py``: parallel, cached, atomic
- ``index``       the prepared macro directory: ``index.csv``, ``load_macro_index``
- ``net``         the pre-training net: the spatial stream and the ``fc_macro`` head
- ``pretrain_config``  every pre-training setting, declared once
- ``pretrain``    ``tools/pretrain.py``: training LMDB, run folder, training process, report
- ``faces``, ``synth``  synthetic stand-ins of the four releases (``data_prep/synth_macro.py``)
"""
