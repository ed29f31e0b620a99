"""The predictions CSV: round trip, and every bad row refused with its file and line."""
import pytest

from atnet.common import InputError
from atnet.predictions import COLUMNS, Prediction, make_prediction, read_predictions, write_predictions

HEADER = ",".join(COLUMNS)
GOOD = ["casme2,sub01,EP02_01f,0,0,0.7,0.2,0.1", "samm,6,006_1_2,2,1,0.1,0.5,0.4"]


def test_round_trip_keeps_every_field(tmp_path):
    rows = [make_prediction({"dataset": "smic", "subject": "s01", "sample": "s01_ne_01", "label": "0"},
                            [0.25, 0.5, 0.25]),
            make_prediction({"dataset": "samm", "subject": "6", "sample": "006_1_2", "label": 2},
                            [-1.5, 0.125, 3.0])]
    assert [(r.pred, r.label) for r in rows] == [(1, 0), (2, 2)]
    path = tmp_path / "predictions.csv"
    write_predictions(path, rows)
    assert path.read_text().splitlines()[0] == HEADER
    assert read_predictions(path) == rows
    assert read_predictions(path)[1].key == "samm-6-006_1_2"


def test_extra_columns_and_a_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "any.csv"
    path.write_text("\ufeff" + HEADER + ",fold\n" + "\n".join(g + ",x" for g in GOOD) + "\n", encoding="utf-8")
    assert [p.sample for p in read_predictions(path)] == ["EP02_01f", "006_1_2"]


@pytest.mark.parametrize("bad_line, message", [
    ("casme,sub01,EP03_02,0,0,0.7,0.2,0.1", "line 4: unknown dataset 'casme'"),
    ("casme2,sub01,EP03_02,3,0,0.7,0.2,0.1", "line 4: label 3 is outside 0..2"),
    ("casme2,sub01,EP03_02,0,x,0.7,0.2,0.1", "line 4: label '0' and pred 'x'"),
    ("casme2,sub01,EP03_02,0,0,nan,0.2,0.1", "line 4: expected 3 finite scores"),
    ("casme2,sub01,EP03_02,0,0,0.7,0.2", "line 4: wrong number of fields"),
    ("casme2,sub01,EP02_01f,1,1,0.1,0.8,0.1", "line 4: sample casme2-sub01-EP02_01f repeats .*line 2"),
])
def test_bad_rows_name_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "predictions.csv"
    path.write_text("\n".join([HEADER] + GOOD + [bad_line]) + "\n")
    with pytest.raises(InputError, match="predictions.csv " + message):
        read_predictions(path)


def test_missing_column_and_missing_file_are_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("dataset,subject,sample,label,pred,score_0,score_1\n")
    with pytest.raises(InputError, match="p.csv line 1: header lacks column.s. score_2"):
        read_predictions(path)
    with pytest.raises(InputError, match="nothing.csv does not exist"):
        read_predictions(tmp_path / "nothing.csv")


def test_writing_refuses_bad_rows_and_leaves_no_file(tmp_path):
    good = Prediction("smic", "s01", "s01_ne_01", 0, 0, (1.0, 0.0, 0.0))
    path = tmp_path / "out.csv"
    with pytest.raises(InputError, match="out.csv row 2: sample smic-s01-s01_ne_01 repeats .*row 1"):
        write_predictions(path, [good, good])
    with pytest.raises(InputError, match="row 1: pred 5"):
        write_predictions(path, [Prediction("smic", "s01", "a", 0, 5, (1.0, 0.0, 0.0))])
    assert list(tmp_path.iterdir()) == []
