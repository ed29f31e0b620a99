"""The records every release reader yields: one Sample per sheet row (or SMIC
clip folder) and one Problem per thing that is wrong with the input."""
import dataclasses
import os
from typing import Optional

from atnet.common import InputError, clip_key
from atnet.data.composite import emotion_label
from atnet.data.frames import describe_numbers, list_frames, missing_numbers
from atnet.data.names import release_name_problem
from atnet.data.sheets import cell_text, frame_cell, read_table


@dataclasses.dataclass
class Sample:
    """One annotated clip as the release describes it.

    ``subject`` and ``sample`` are in the official MEGC2019 ground-truth style
    (``sub01``/``EP02_01f``, ``6``/``006_1_2``, ``s01``/``s01_ne_01``).
    ``label`` is the 3-class index, or None when the emotion is not part of
    the composite. ``frames`` are the clip's frame paths in numeric order,
    restricted to onset..offset; ``frame_numbers`` the matching numbers.
    ``problems`` lists what is wrong with this row (empty when usable);
    ``source`` says where the row came from, for messages.
    """
    dataset: str
    subject: str
    sample: str
    emotion: str
    label: Optional[int]
    onset: Optional[int]
    apex: Optional[int]
    offset: Optional[int]
    fps: float
    source: str
    folder: str = ""
    frames: tuple = ()
    frame_numbers: tuple = ()
    apex_source: str = "annotated"
    problems: list = dataclasses.field(default_factory=list)

    @property
    def key(self):
        """The release's clip key, e.g. ``samm-6-006_1_2``."""
        return clip_key(self.dataset, self.subject, self.sample)

    @property
    def apex_index(self):
        """Position of the apex frame in ``frames`` (None if not among them)."""
        try:
            return self.frame_numbers.index(self.apex)
        except ValueError:
            return None

    def problem(self, reason):
        """A Problem about this row, located at its source."""
        return Problem(self.dataset, self.subject, self.sample, self.source, reason)


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something wrong with the input, located precisely enough to fix it.

    ``about_row`` is False for problems that belong to no sheet row or clip,
    e.g. a clip folder that no sheet row names; the counts keep them apart.
    """
    dataset: str
    subject: str
    sample: str
    where: str
    reason: str
    about_row: bool = True

    def __str__(self):
        return "%s: %s/%s: %s" % (self.where, self.subject, self.sample, self.reason)


def check_apex(sample):
    """Add a problem when the apex is missing or outside [onset, offset]."""
    if sample.onset is None or sample.offset is None:
        return
    if sample.apex is None:
        sample.problems.append("apex frame not annotated ('/')")
    elif not sample.onset <= sample.apex <= sample.offset:
        sample.problems.append("apex frame %d outside [onset %d, offset %d]"
                               % (sample.apex, sample.onset, sample.offset))


@dataclasses.dataclass
class ReleaseScan:
    """What a reader found in one dataset root.

    ``samples`` has one entry per sheet row (SMIC: per clip folder), usable or
    not; ``problems`` holds what belongs to no row, e.g. a clip folder that
    no sheet row names. ``sources`` names the sheet and frame folder read.
    """
    dataset: str
    samples: list
    problems: list
    sources: dict


def attach_frames(sample, folder):
    """Give a sheet row the frames onset..offset of its folder, or problems.

    The releases' folders hold exactly onset..offset, numbered like the
    sheet, so a frame number missing from that range is a missing frame.
    """
    if not os.path.isdir(folder):
        sample.problems.append("no clip folder %s" % folder)
        return
    sample.folder = folder
    try:
        numbered = list_frames(folder)
    except InputError as err:
        sample.problems.append(str(err))
        return
    if not numbered:
        sample.problems.append("%s: clip folder holds no frames" % folder)
        return
    if sample.onset is None or sample.offset is None:
        return
    inside = [(number, path) for number, path in numbered if sample.onset <= number <= sample.offset]
    absent = missing_numbers([number for number, _ in inside], sample.onset, sample.offset)
    if absent:
        sample.problems.append("%s: frames %s of onset..offset (%d..%d) are missing"
                               % (folder, describe_numbers(absent), sample.onset, sample.offset))
    sample.frame_numbers = tuple(number for number, _ in inside)
    sample.frames = tuple(path for _, path in inside)


def check_frame_range(sample, where):
    """Problems for missing onset/offset cells or offset before onset."""
    if sample.onset is None or sample.offset is None:
        sample.problems.append("%s: onset or offset frame not given" % where)
    elif sample.offset < sample.onset:
        sample.problems.append("%s: offset %d before onset %d" % (where, sample.offset, sample.onset))


def list_subdirs(folder, pattern):
    """Names of the sub-folders of ``folder`` that match a compiled regex, sorted."""
    return sorted(name for name in os.listdir(folder)
                  if pattern.fullmatch(name) and os.path.isdir(os.path.join(folder, name)))


def descend_nesting(path):
    """Follow ``X/X/X...`` nesting (``CASME2_RAW_selected/CASME2_RAW_selected``)."""
    while os.path.isdir(os.path.join(path, os.path.basename(path))):
        path = os.path.join(path, os.path.basename(path))
    return path


def read_sheet_samples(dataset, sheet, preferred_sheet, columns, fps, subject_id, clip_folder):
    """Every data row of an annotation sheet as a Sample with its frames.

    ``columns`` maps normalised headers to subject, filename, onset, apex,
    offset, emotion; ``subject_id(cell)`` gives the ground-truth-style subject
    (ValueError if unusable); ``clip_folder(sample)`` the row's frame folder.
    Names are checked against the release's shapes (atnet.data.names) before
    anything is joined into a path; a row with another name is a problem.
    Returns the samples and the set of (subject, filename) seen.
    """
    sheet_name, table = read_table(sheet, preferred_sheet, columns)
    samples, seen = [], {}
    for row_number, cells in table:
        where = "%s, sheet %s, row %d" % (sheet, sheet_name, row_number)
        sample = _sample_from_cells(dataset, cells, fps, where)
        samples.append(sample)
        try:
            sample.subject = subject_id(cells["subject"])
        except ValueError:
            sample.problems.append("Subject %r is not a subject number" % cells["subject"])
            continue
        if not sample.sample:
            continue
        bad_name = release_name_problem(dataset, sample.subject, sample.sample)
        if bad_name:  # never joined into a path: the row is refused (skipped with --lenient)
            sample.problems.append(bad_name)
            continue
        identity = (sample.subject, sample.sample)
        if identity in seen:
            sample.problems.append("same subject and filename as row %d" % seen[identity])
        seen.setdefault(identity, row_number)
        attach_frames(sample, clip_folder(sample))
    return samples, set(seen)


def _sample_from_cells(dataset, cells, fps, where):
    """A Sample from one sheet row (subject as written); bad cells become problems."""
    emotion = cell_text(cells["emotion"])
    known, label = emotion_label(dataset, emotion)
    sample = Sample(dataset, cell_text(cells["subject"]), cell_text(cells["filename"]), emotion,
                    label, None, None, None, fps, where)
    if not known:
        sample.problems.append("unknown emotion %r" % emotion)
    if not sample.sample:
        sample.problems.append("Filename is blank")
    for name in ("onset", "apex", "offset"):
        try:
            setattr(sample, name, frame_cell(cells[name]))
        except ValueError:
            sample.problems.append("%s frame %r is not a frame number" % (name, cells[name]))
    check_frame_range(sample, where)
    check_apex(sample)
    return sample


def folders_without_rows(dataset, frames_root, subject_dir, subject_id, seen, sheet):
    """A Problem for each clip folder that no sheet row names.

    ``subject_dir`` is a compiled regex of subject folder names and
    ``subject_id(folder name)`` their ground-truth-style id.
    """
    problems = []
    for folder_name in list_subdirs(frames_root, subject_dir):
        subject = subject_id(folder_name)
        for name in sorted(os.listdir(os.path.join(frames_root, folder_name))):
            folder = os.path.join(frames_root, folder_name, name)
            if os.path.isdir(folder) and (subject, name) not in seen:
                problems.append(Problem(dataset, subject, name, folder,
                                        "clip folder has no row in %s" % os.path.basename(sheet), False))
    return problems
