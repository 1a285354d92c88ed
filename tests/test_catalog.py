"""What a person picks from (dicomviz.catalog): studies, series, parts and volumes, with labels
that tell them apart and never show a patient identifier; and notes in plain words."""

from __future__ import annotations

import pickle

import numpy as np
from synth import make_series, make_slice_dataset, to_bytes

import dicomviz
from dicomviz import catalog
from dicomviz.notes import Note, kind_of, plain_of
from dicomviz.tables import privacy


def _localizer_and_two_series() -> list[tuple[str, bytes]]:
    """Series 2: 4 axial + 3 coronal images (a localizer); series 3: 6 axial; one study."""
    files = make_series(
        slices=6, series_number=3, series_description="Thorax 5mm", names="T{index}"
    )
    for k in range(4):
        ds = make_slice_dataset(
            np.zeros((8, 8), np.int16), position=(0, 0, 10.0 * k), row_cosine=(1, 0, 0),
            col_cosine=(0, 1, 0), pixel_spacing=(1, 1), instance_number=k + 1,
            series_uid="1.2.826.0.1.3680043.8.498.51", series_number=2,
            series_description="Scout for Doe^John", SeriesTime="101500", PatientName="Doe^John",
        )  # fmt: skip
        files.append((f"A{k}", to_bytes(ds)))
    for k in range(3):
        ds = make_slice_dataset(
            np.zeros((8, 8), np.int16), position=(0, 10.0 * k, 0), row_cosine=(1, 0, 0),
            col_cosine=(0, 0, -1), pixel_spacing=(1, 1), instance_number=10 + k,
            series_uid="1.2.826.0.1.3680043.8.498.51", series_number=2,
            series_description="Scout for Doe^John",
        )  # fmt: skip
        files.append((f"C{k}", to_bytes(ds)))
    return files


def test_series_are_counted_as_a_person_counts_them() -> None:
    study = dicomviz.load(_localizer_and_two_series())
    assert catalog.counts(study) == (2, 3)  # 2 series, one of them in 2 parts: 3 stacks
    (entry,) = catalog.browse(study)
    assert [len(s.parts) for s in entry.series] == [2, 1]
    assert [catalog.part_label(p) for p in entry.series[0].parts] == [
        "4 images · axial · 8 x 8",
        "3 images · coronal · 8 x 8",
    ]


def test_labels_say_number_description_modality_time_count_and_plane() -> None:
    study = dicomviz.load(_localizer_and_two_series())
    (entry,) = catalog.browse(study)
    scout, thorax = (catalog.series_label(s) for s in entry.series)
    assert scout.startswith("#2 · Scout for Doe^John · CT · 10:15 · 7 images · 2 parts")
    assert thorax == "#3 · Thorax 5mm · CT · 6 images · axial"
    assert catalog.study_label(entry).startswith("2024-01-01 12:00 · ")


def test_labels_never_show_what_the_headers_name() -> None:
    files = _localizer_and_two_series()
    study = dicomviz.load(files)
    (entry,) = catalog.browse(study)
    stack = entry.series[0].first
    identifiers = privacy.identifiers_of(
        stack.first_dataset()
    )  # the header's PatientName is Doe^John
    label = catalog.series_label(entry.series[0], identifiers)
    assert "Doe" not in label and "John" not in label and "(hidden)" in label


def test_a_4d_series_is_one_series_of_several_volumes() -> None:
    files = []
    for v, te in enumerate((11, 92)):
        for name, data in make_series(slices=4, names=f"E{v}_{{index}}", series_uid="1.2.3.99"):
            import io

            import pydicom

            ds = pydicom.dcmread(io.BytesIO(data))
            ds.EchoNumbers, ds.EchoTime = v + 1, te
            ds.SOPInstanceUID = f"1.2.3.99.{v}.{name[-1]}"
            files.append((name, to_bytes(ds)))
    study = dicomviz.load(files)
    assert catalog.counts(study) == (1, 2)
    (entry,) = catalog.browse(study)
    (series,) = entry.series
    (part,) = series.parts
    assert part.is_4d and [s.label for s in part.stacks] == ["TE 11 ms", "TE 92 ms"]
    assert "2 volumes" in catalog.series_label(series)


def test_notes_are_strings_with_a_kind_and_plain_words() -> None:
    stack = dicomviz.load(make_series(slices=10, gap_after=4)).stacks[0]
    (gaps,) = [w for w in stack.warnings if kind_of(w) == "gaps"]
    assert isinstance(gaps, str) and gaps.startswith("uneven slice spacing")
    assert "true position" in plain_of(gaps) and "slice normal" not in plain_of(gaps)
    again = pickle.loads(pickle.dumps(gaps))
    assert (again, again.kind, again.plain) == (gaps, gaps.kind, gaps.plain)
    assert kind_of("a plain string") == "other" and plain_of("x") == "x"
    assert Note("t", "tilt", "p").plain == "p"
