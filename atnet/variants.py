"""The four networks of the paper's tables, declared once.

A variant is a name (the ``--model`` choices of tools/train.py), the streams
it reads, its two switches (Micro-Attention units, Dropout) and its row of
Tables II and III (``run.json``'s method and setting, paper_tables.csv's
keys). Nothing here imports Caffe, so the tools, the paper checker and the
run-folder code can name variants without loading pycaffe; atnet.nets builds
each variant's layers from these fields.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Variant:
    """One network of the paper's tables."""
    name: str
    streams: tuple  # "spatial" and/or "temporal"
    attention: bool  # Micro-Attention units in the ResNet-10 blocks
    dropout: bool  # Dropout 0.5 before the classifier
    table_row: tuple  # (method, setting) of its rows in Tables II and III (paper_tables.csv)
    summary: str

    @property
    def score_blob(self):
        """The classifier's layer and top name, distinct per variant: weights of
        one variant load into another by layer name without a shape clash."""
        return "fc_" + self.name

    @property
    def uses_apex(self):
        return "spatial" in self.streams

    @property
    def uses_flow(self):
        return "temporal" in self.streams


VARIANTS = {variant.name: variant for variant in (
    Variant("fusion", ("spatial", "temporal"), False, True, ("ATNet", "Fusion"),
            "ATNet: ResNet-10 on the apex frame and a 2-layer LSTM on the ADM flow "
            "feature, each L2-normalised, concatenated (1024), Dropout 0.5, InnerProduct 3."),
    Variant("spatial", ("spatial",), False, True, ("ATNet", "Spatial Stream"),
            "The ResNet-10 spatial stream alone with the same head: L2 normalisation, "
            "Dropout 0.5, InnerProduct 3."),
    Variant("temporal", ("temporal",), False, True, ("ATNet", "Temporal Stream"),
            "The 2-layer LSTM temporal stream alone with the same head: L2 normalisation, "
            "Dropout 0.5, InnerProduct 3."),
    Variant("micro_attention", ("spatial",), True, False, ("Micro-Attention", "apex"),
            "The comparison net (Wang et al., the paper's ref [19]): the same ResNet-10 "
            "with a residual attention unit after each block, L2 normalisation, "
            "InnerProduct 3, no dropout."),
)}


def variant_of(name):
    """The Variant called ``name``; a clear error for anything else."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError("unknown network variant %r (choose from %s)"
                         % (name, ", ".join(VARIANTS))) from None
