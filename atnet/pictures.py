"""Pictures of a prepared directory, for a person to check the data by eye.

``tools/inspect_data.py PREPARED --out DIR`` writes:

- ``faces-<dataset>.png``: a contact sheet per dataset, one row per class:
  for each sample the apex frame with the face box drawn (green; the Haar
  cascade's or landmarks' box grown by the margin, or the manual box), then
  the 224 x 224 crop that was stored. A wrong box is the first thing to spot.
- ``adm-<dataset>.png``: per class, one sample's ADM feature as two heat
  maps over time (rows, apex marked) and the 64 blocks (columns): direction
  theta on a cyclic colour map, magnitude rho.
- ``flow-<dataset>.png``: per class, one sample's optical flow at the apex
  (recomputed with the manifest's algorithm on the recorded box) in the
  usual HSV picture, hue = direction, brightness = magnitude: the one step
  apex - 1 -> apex that the feature's apex row averages, and the whole
  movement from the window's first frame to the apex.
- ``mean-adm.png``: per class, the mean magnitude over all samples, as time x
  block heat map, averaged over the valid steps as the 8 x 8 block grid over
  the class's mean face, and that grid minus the mean of all classes (where
  a class moves more or less than the others). Directions are not averaged
  again: the feature's theta is already an arithmetic mean of angles.

Imported release directories have no frames: the frame and flow pictures
are left out and say so. Everything uses matplotlib's Agg canvas (no
display) and is written atomically.
"""
import io
import os

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atnet.common import CLASS_NAMES, DATASET_TITLES, DATASETS, InputError, read_json, write_bytes
from atnet.data.adm import CROP_SIZE, GRID, HALF_WINDOW
from atnet.data.flow import DEFAULT_FLOW, make_flow
from atnet.data.frames import read_grey
from atnet.data.prepared import clip_frame_paths, load_apex_image, load_face_clip, load_feature, load_index

#: Samples shown per class on a contact sheet.
SHEET_COLUMNS = 6
BOX_COLOUR = (0, 220, 0)       # RGB


def by_dataset_and_class(rows):
    """``{dataset: {label: [rows]}}`` in index order, datasets and classes that occur only."""
    groups = {}
    for row in rows:
        groups.setdefault(row.dataset, {}).setdefault(row.label, []).append(row)
    return {d: dict(sorted(groups[d].items())) for d in DATASETS if d in groups}


def has_frames(row):
    """True when the sample records its source frames and box (prepare, not import)."""
    return bool(row.frame_source) and row.box is not None and row.apex_index is not None


def apex_frame_with_box(prepared, row):
    """The apex frame in RGB with the face box drawn, or None for an imported sample."""
    if not has_frames(row):
        return None
    frame = read_grey(clip_frame_paths(prepared, row)[row.apex_index])
    rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    x, y, w, h = row.box
    thickness = max(2, int(round(max(frame.shape) / 200)))
    cv2.rectangle(rgb, (x, y), (x + w - 1, y + h - 1), BOX_COLOUR, thickness)
    return rgb


def flow_hsv(field, max_magnitude=None):
    """The usual colour picture of a flow field: hue = direction, value = magnitude.

    ``max_magnitude`` (pixels) maps to full brightness; default: the field's
    99th percentile, so one outlier does not darken everything.
    """
    magnitude, angle = cv2.cartToPolar(field[..., 0].astype(np.float32), field[..., 1].astype(np.float32))
    scale = max_magnitude or float(np.percentile(magnitude, 99)) or 1.0
    hsv = np.zeros(field.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (angle * (90 / np.pi)).astype(np.uint8)          # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / scale * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), scale


def direction_wheel(size=64):
    """The colour key of flow_hsv: a disc whose colour at each point is that direction."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j].astype(np.float32)
    field = np.dstack([x, y]) * (np.hypot(x, y) <= 1)[..., None]
    return flow_hsv(field, 1.0)[0]


def _robust_top(values):
    """The colour-scale top: the 99th percentile of the shown values, so one outlier
    block does not darken the rest."""
    shown = np.ma.compressed(values) if np.ma.isMaskedArray(values) else np.ravel(values)
    return max(float(np.percentile(shown, 99)) if shown.size else 0.0, 1e-6)


def _save(figure, path):
    """Render a matplotlib figure to PNG and write it atomically."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes(path, buffer.getvalue())
    return path


def _title(row):
    return "%s/%s" % (row.subject, row.sample)


def _no_frames(axes, text="no source frames\n(imported release)"):
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, transform=axes.transAxes)


def contact_sheet(prepared, dataset, classes, path):
    """faces-<dataset>.png: per class row, (apex frame + box, stored crop) per sample."""
    columns = min(SHEET_COLUMNS, max(len(rows) for rows in classes.values()))
    figure = Figure(figsize=(max(2.2 * 2 * columns, 6.5), 2.5 * len(classes) + 0.4))
    figure.suptitle("%s, per class: apex frame with the face box (green)\nand the stored 224 x 224 face"
                    % DATASET_TITLES[dataset], fontsize=11)
    grid = figure.add_gridspec(len(classes), 2 * columns)
    for line, (label, rows) in enumerate(classes.items()):
        for column in range(columns):
            frame_axes = figure.add_subplot(grid[line, 2 * column])
            face_axes = figure.add_subplot(grid[line, 2 * column + 1])
            for axes in (frame_axes, face_axes):
                axes.set_xticks([])
                axes.set_yticks([])
            if column >= len(rows):
                frame_axes.set_axis_off()
                face_axes.set_axis_off()
                continue
            row = rows[column]
            frame = apex_frame_with_box(prepared, row)
            if frame is None:
                _no_frames(frame_axes)
            else:
                frame_axes.imshow(frame)
            face_axes.imshow(load_apex_image(prepared, row), cmap="gray", vmin=0, vmax=255)
            frame_axes.set_title(_title(row), fontsize=8, loc="left")
            if column == 0:
                frame_axes.set_ylabel("%s (%d)" % (CLASS_NAMES[label], len(rows)), fontsize=10)
    figure.subplots_adjust(left=0.35 / figure.get_figwidth(), right=0.99, bottom=0.02, top=0.88,
                           wspace=0.05, hspace=0.25)
    return _save(figure, path)


def adm_heat_maps(prepared, dataset, classes, path):
    """adm-<dataset>.png: per class, one sample's theta and rho over time x block."""
    figure = Figure(figsize=(11, 3.4 * len(classes)))
    figure.suptitle("%s: ADM feature of one sample per class (rows: time steps, apex at step %d; "
                    "columns: the 64 blocks, row-major;\ngrey: steps outside the clip, zero rows)"
                    % (DATASET_TITLES[dataset], HALF_WINDOW), fontsize=10)
    grid = figure.add_gridspec(len(classes), 2)
    for line, (label, rows) in enumerate(classes.items()):
        row = rows[0]
        feature = load_feature(prepared, row)
        invalid = ~np.any(feature != 0, axis=1)
        # rows outside the clip are zeros: grey, so they are not read as theta = 0
        theta = np.ma.masked_array(feature[:, 0::2], np.repeat(invalid[:, None], GRID * GRID, axis=1))
        rho = np.ma.masked_array(feature[:, 1::2], theta.mask)
        for column, (values, name, options) in enumerate([
                (theta, "direction theta (rad)", dict(cmap="twilight", vmin=-np.pi, vmax=np.pi)),
                (rho, "magnitude rho (px/frame)", dict(cmap="magma", vmin=0, vmax=_robust_top(rho)))]):
            axes = figure.add_subplot(grid[line, column])
            axes.set_facecolor("0.75")
            image = axes.imshow(values, aspect="auto", interpolation="nearest", **options)
            axes.axhline(HALF_WINDOW - 0.5, color="cyan", linewidth=0.8, linestyle="--")
            axes.set_title("%s %s: %s" % (CLASS_NAMES[label], _title(row), name), fontsize=9)
            axes.set_xlabel("block (8 x row + column)", fontsize=8)
            axes.set_ylabel("time step", fontsize=8)
            figure.colorbar(image, ax=axes, fraction=0.04)
    figure.subplots_adjust(left=0.07, right=0.97, bottom=0.08, top=0.90, wspace=0.25, hspace=0.45)
    return _save(figure, path)


def apex_flows(prepared, row, flow_name):
    """Crops and flow fields at the apex, on the recorded box, or None (no frames).

    ``(apex crop, |apex - previous|, flow previous -> apex, flow first -> apex)``:
    the one-step field is the feature's apex row; the field from the window's
    first frame (at most HALF_WINDOW before the apex) shows the whole movement,
    which one step of a micro-expression rarely does above the noise.
    """
    if not has_frames(row) or row.apex_index < 1:
        return None
    clip, apex = load_face_clip(prepared, row, size=CROP_SIZE)
    flow = make_flow(flow_name)
    first = max(0, apex - HALF_WINDOW)
    difference = np.abs(clip[apex].astype(np.int16) - clip[apex - 1]).astype(np.uint8)
    return clip[apex], difference, flow(clip[apex - 1], clip[apex]), flow(clip[first], clip[apex]), apex - first


def flow_pictures(prepared, dataset, classes, flow_name, path):
    """flow-<dataset>.png: per class, apex face, HSV flow at the apex and since the window start."""
    figure = Figure(figsize=(11, 3.0 * len(classes)))
    figure.suptitle("%s: optical flow (%s) at the apex, one sample per class\n"
                    "hue = direction (key on the right, image y down), brightness = magnitude"
                    % (DATASET_TITLES[dataset], flow_name), fontsize=10)
    grid = figure.add_gridspec(len(classes), 5, width_ratios=[1, 1, 1, 1, 0.5])
    wheel = direction_wheel()
    for line, (label, rows) in enumerate(classes.items()):
        row = rows[0]
        result = apex_flows(prepared, row, flow_name)
        axes = [figure.add_subplot(grid[line, column]) for column in range(5)]
        for one in axes:
            one.set_xticks([])
            one.set_yticks([])
        axes[0].set_ylabel(CLASS_NAMES[label], fontsize=10)
        axes[0].set_title("apex face %s" % _title(row), fontsize=8)
        axes[4].imshow(wheel)
        axes[4].set_title("direction key", fontsize=8)
        if result is None:
            axes[0].imshow(load_apex_image(prepared, row), cmap="gray", vmin=0, vmax=255)
            _no_frames(axes[1])
            continue
        apex, difference, step, whole, span = result
        axes[0].imshow(apex, cmap="gray", vmin=0, vmax=255)
        axes[1].imshow(difference, cmap="gray")
        axes[1].set_title("|apex - previous frame|", fontsize=8)
        for one, field, name in ((axes[2], step, "previous -> apex"),
                                 (axes[3], whole, "%d frames before -> apex" % span)):
            picture, scale = flow_hsv(field)
            one.imshow(picture)
            one.set_title("%s\n(full brightness %.2f px)" % (name, scale), fontsize=8)
    figure.subplots_adjust(left=0.04, right=0.98, bottom=0.02, top=0.85, wspace=0.08, hspace=0.35)
    return _save(figure, path)


def class_means(prepared, rows):
    """``{label: (mean feature 64 x 128, mean apex face, count)}`` over every sample."""
    means = {}
    for label in sorted({row.label for row in rows}):
        mine = [row for row in rows if row.label == label]
        features = np.stack([load_feature(prepared, row) for row in mine]).astype(np.float64)
        faces = np.stack([load_apex_image(prepared, row) for row in mine]).astype(np.float64)
        means[label] = (features.mean(axis=0), faces.mean(axis=0), len(mine))
    return means


def block_grid_rho(feature):
    """Mean magnitude per block over the steps that carry flow, as the 8 x 8 grid."""
    valid = np.any(feature != 0, axis=1)
    if not valid.any():
        return np.zeros((GRID, GRID))
    return feature[valid, 1::2].mean(axis=0).reshape(GRID, GRID)


def mean_adm(prepared, rows, path):
    """mean-adm.png: per class, mean rho over time x block, on the 8 x 8 grid, and minus all classes."""
    means = class_means(prepared, rows)
    figure = Figure(figsize=(4.3 * len(means), 11))
    figure.suptitle("Mean ADM magnitude per class over all %d samples (every dataset)" % len(rows), fontsize=11)
    top = max(float(feature[:, 1::2].max()) for feature, _, _ in means.values()) or 1e-6
    grids = {label: block_grid_rho(feature) for label, (feature, _, _) in means.items()}
    overall = np.mean(list(grids.values()), axis=0)      # classes weighted equally
    grid_top = max(float(g.max()) for g in grids.values()) or 1e-6
    spread = max(float(np.abs(g - overall).max()) for g in grids.values()) or 1e-6
    extent = (0, CROP_SIZE, CROP_SIZE, 0)
    count = len(means)
    for column, (label, (feature, face, number)) in enumerate(means.items()):
        axes = figure.add_subplot(3, count, column + 1)
        image = axes.imshow(feature[:, 1::2], aspect="auto", cmap="magma", vmin=0, vmax=top,
                            interpolation="nearest")
        axes.axhline(HALF_WINDOW - 0.5, color="cyan", linewidth=0.8, linestyle="--")
        axes.set_title("%s (%d samples): mean rho (px/frame)" % (CLASS_NAMES[label], number), fontsize=9)
        axes.set_xlabel("block (8 x row + column)", fontsize=8)
        axes.set_ylabel("time step (apex dashed)", fontsize=8)
        figure.colorbar(image, ax=axes, fraction=0.04)
        for line, (values, options, title) in enumerate([
                (grids[label], dict(cmap="magma", vmin=0, vmax=grid_top, alpha=0.55),
                 "mean rho per block over the valid steps"),
                (grids[label] - overall, dict(cmap="coolwarm", vmin=-spread, vmax=spread, alpha=0.6),
                 "minus the mean of all classes")], start=1):
            axes = figure.add_subplot(3, count, line * count + column + 1)
            axes.imshow(face, cmap="gray", vmin=0, vmax=255)
            overlay = axes.imshow(values, extent=extent, interpolation="nearest", **options)
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_title(title, fontsize=8)
            figure.colorbar(overlay, ax=axes, fraction=0.04)
    figure.subplots_adjust(left=0.06, right=0.95, bottom=0.02, top=0.94, wspace=0.35, hspace=0.25)
    return _save(figure, path)


def flow_algorithm(prepared):
    """The flow algorithm the manifest records (prepare), else the default."""
    path = os.path.join(prepared, "manifest.json")
    if not os.path.isfile(path):
        return DEFAULT_FLOW
    flow = read_json(path).get("parameters", {}).get("flow", {})
    return flow.get("name", DEFAULT_FLOW) if isinstance(flow, dict) else DEFAULT_FLOW


def inspect(prepared, out, log=print):
    """Write every picture of ``prepared`` into ``out``; returns the paths written."""
    rows = load_index(prepared)
    if not rows:
        raise InputError("%s: the index lists no sample" % os.path.join(prepared, "index.csv"))
    os.makedirs(out, exist_ok=True)
    flow_name = flow_algorithm(prepared)
    written = []
    for dataset, classes in by_dataset_and_class(rows).items():
        written.append(contact_sheet(prepared, dataset, classes, os.path.join(out, "faces-%s.png" % dataset)))
        written.append(adm_heat_maps(prepared, dataset, classes, os.path.join(out, "adm-%s.png" % dataset)))
        if any(has_frames(rows[0]) for rows in classes.values()):
            written.append(flow_pictures(prepared, dataset, classes, flow_name,
                                         os.path.join(out, "flow-%s.png" % dataset)))
        else:
            log("%s: no source frames (imported release), no flow picture" % dataset)
    written.append(mean_adm(prepared, rows, os.path.join(out, "mean-adm.png")))
    for path in written:
        log("wrote %s" % path)
    return written
