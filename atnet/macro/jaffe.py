"""JAFFE: one flat folder of ``KA.AN1.39.tiff`` images (poser, code + repetition, image number).

213 images of 10 posers, 7 codes (AN DI FE HA NE SA SU). Each image is its
own one-frame sequence named by code + repetition (``AN1``); the image
number is the frame number. Some TIFFs are 3-channel grey, some 1-channel;
both are read as grey. The images sit in the root or in ``jaffedbase/``.
A semantic-ratings table (columns ``N HAP SAD SUR ANG DIS FEA PIC``, mean
ratings 1..5) is read when a text file with that header is present, and
joined to the images by PIC (``KA-AN1``), never by N (a running number
unrelated to the image number); the ratings are kept for reports only, the
label is the code in the file name.
"""
import os
import re

from atnet.common import InputError
from atnet.data.frames import is_image_file
from atnet.data.samples import Problem
from atnet.macro.labels import JAFFE_CODES
from atnet.macro.sequences import MacroScan, Sequence, find_layout_folder

IMAGE_FOLDERS = ("jaffedbase", "jaffe")
RATING_COLUMNS = ("N", "HAP", "SAD", "SUR", "ANG", "DIS", "FEA", "PIC")
RATING_FILE_EXTENSIONS = (".txt", ".csv", ".dat")
_IMAGE = re.compile(r"([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?", re.IGNORECASE)


def image_folder(root):
    """The folder holding the TIFFs: the root itself, or its jaffedbase/ (jaffe/) folder."""
    if any(_is_tiff(name) for name in os.listdir(root)):
        return root
    return find_layout_folder(root, IMAGE_FOLDERS, "JAFFE image folder (TIFF files)")


def _is_tiff(name):
    return is_image_file(name) and os.path.splitext(name)[1].lower() in (".tif", ".tiff")


def read_jaffe(root):
    """Every JAFFE image as a one-frame Sequence; ratings joined by PIC."""
    folder = image_folder(root)
    sequences, problems, notes, seen = [], [], [], {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not _is_tiff(name) or not os.path.isfile(path):
            continue
        match = _IMAGE.fullmatch(name)
        if match is None:
            problems.append(Problem("jaffe", "", name, path, "file name is not <poser>.<code><n>.<number>.tiff",
                                    False))
            continue
        poser, code, repetition, number = (match.group(1).upper(), match.group(2).upper(), match.group(3),
                                           int(match.group(4)))
        sequence = Sequence("jaffe", poser, code + repetition, JAFFE_CODES.get(code), code, "only", path,
                            frames=(path,), frame_numbers=(number,))
        if code not in JAFFE_CODES:
            sequence.problems.append("unknown expression code %r (expected %s)" % (code, " ".join(JAFFE_CODES)))
        if (poser, sequence.sequence) in seen:
            sequence.problems.append("a second image of %s %s (also %s)" % (poser, sequence.sequence,
                                                                            seen[(poser, sequence.sequence)]))
        seen.setdefault((poser, sequence.sequence), name)
        sequences.append(sequence)
    if not sequences:
        raise InputError("%s: no JAFFE images (<poser>.<code><n>.<number>.tiff)" % folder)
    ratings_files = _join_ratings(root, folder, sequences, problems, notes)
    return MacroScan("jaffe", sequences, problems, notes, {"images": folder, "ratings": ratings_files})


def find_rating_tables(*folders):
    """Text files in ``folders`` whose first non-blank line is the ratings header."""
    found = []
    for folder in dict.fromkeys(folders):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.splitext(name)[1].lower() in RATING_FILE_EXTENSIONS and os.path.isfile(path) \
                    and _header(path) is not None:
                found.append(path)
    return found


def _header(path):
    with open(path, errors="replace") as handle:
        for line in handle:
            tokens = line.replace(",", " ").split()
            if tokens:
                return tokens if set(RATING_COLUMNS) <= {t.upper() for t in tokens} else None
    return None


def read_ratings(path):
    """``({PIC: {column: mean rating}}, problems)`` of a ratings table."""
    header = [t.upper() for t in _header(path)]
    ratings, problems = {}, []
    with open(path, errors="replace") as handle:
        lines = [line.replace(",", " ").split() for line in handle]
    start = next(i for i, tokens in enumerate(lines) if tokens) + 1
    for number, tokens in enumerate(lines[start:], start=start + 1):
        if not tokens:
            continue
        row = dict(zip(header, tokens))
        where = "%s, line %d" % (path, number)
        try:
            if len(tokens) != len(header):
                raise ValueError("%d fields, the header has %d" % (len(tokens), len(header)))
            values = {column: float(row[column]) for column in RATING_COLUMNS[1:-1]}
        except ValueError as err:
            problems.append(Problem("jaffe", "", row.get("PIC", ""), where, "bad ratings row (%s)" % err, False))
            continue
        pic = row["PIC"].upper()
        if pic in ratings:
            problems.append(Problem("jaffe", "", pic, where, "PIC %s rated twice" % pic, False))
        ratings[pic] = values
    return ratings, problems


def _join_ratings(root, folder, sequences, problems, notes):
    """Attach each image's ratings (by PIC = poser-code+repetition); returns the tables read."""
    tables = find_rating_tables(root, folder)
    by_pic = {"%s-%s" % (s.subject, s.sequence): s for s in sequences}
    for path in tables:
        ratings, bad = read_ratings(path)
        problems.extend(bad)
        unmatched = sorted(pic for pic in ratings if pic not in by_pic)
        if unmatched:
            notes.append("%s: %d PIC(s) name no image: %s" % (path, len(unmatched), ", ".join(unmatched[:8])))
        for pic, values in ratings.items():
            if pic in by_pic:
                by_pic[pic].info["ratings"] = values
    if tables:
        unrated = sum("ratings" not in s.info for s in sequences)
        if unrated:
            notes.append("%d image(s) have no row in the ratings table" % unrated)
    return tables
