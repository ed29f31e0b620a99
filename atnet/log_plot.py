"""A picture of a Caffe training log's rows (atnet.caffe_log): outputs and learning rate per iteration."""
import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atnet.common import write_bytes

FIXED_COLUMNS = ("NumIters", "Seconds", "LearningRate")


def output_names(train_rows, test_rows):
    """Every net output column of either table, in first-seen order."""
    names = []
    for rows in (train_rows, test_rows):
        for name in (rows[0].keys() if rows else ()):
            if name not in FIXED_COLUMNS and name not in names:
                names.append(name)
    return names


def plot_rows(train_rows, test_rows, path, title=""):
    """One panel per output (train and test lines), then the learning rate; written atomically."""
    names = output_names(train_rows, test_rows)
    figure = Figure(figsize=(8, 2.6 * (len(names) + 1)))
    FigureCanvasAgg(figure)
    for position, name in enumerate(names + ["LearningRate"], start=1):
        axes = figure.add_subplot(len(names) + 1, 1, position)
        for label, rows, style, colour in (("train", train_rows, "-", "C0"), ("test", test_rows, "o-", "C1")):
            points = [(row["NumIters"], row[name]) for row in rows
                      if name in row and not math.isnan(row[name])]
            if points and not (name == "LearningRate" and label == "test"):
                axes.plot([p[0] for p in points], [p[1] for p in points], style, label=label, markersize=3,
                          color=colour, drawstyle="steps-post" if name == "LearningRate" else "default")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    axes.set_xlabel("iteration")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes(path, buffer.getvalue())
    return path
