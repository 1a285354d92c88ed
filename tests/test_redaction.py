"""Hiding patient identifiers: the PS3.15 basic profile in every table the page and the command
line show, and identifiers cleaned out of the text that stays readable."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from dicomviz.cli import main
from dicomviz.tables import privacy
from dicomviz.tables.basic_profile import CLEAN_DESCRIPTORS, profile
from dicomviz.tables.headers import header_table, varying_elements
from dicomviz.tables.privacy import (
    READABLE_DESCRIPTORS,
    REDACTED,
    identifiers_of,
    is_identifier_source,
    pieces,
    redact_table,
)

FREE_TEXT = frozenset({"LO", "LT", "SH", "ST", "UT", "UC"})
BIRTH = "19700304"
# Spellings of the birth date planted in text, besides the header's own 19700304.
BIRTH_SPELLINGS = ("1970-03-04", "04.03.1970", "03/04/1970", "4 Mar 1970", "March 4, 1970")
# Identity fields real test files leave empty, filled in so that every kind is planted.
IDENTITY = {
    "PatientBirthDate": BIRTH,
    "ReferringPhysicianName": "Okafor^Chidi^Emeka^Dr",
    "PerformingPhysicianName": ["Lee^Jo", "Varga^Zsófia"],
    "OtherPatientNames": "Kowalczyk^Agnieszka",
    "PatientAddress": "12 Harbour Lane\r\nPortsmouth, PO1 3AX",
    "InstitutionAddress": "1 Infirmary Square, Leicester",
    "AccessionNumber": "ACC0099812",
    "PerformedStationName": "CTSCANNER-EAST-2",
    "IssuerOfPatientID": "QUEENSWAY HOSPITAL MRN",
}
DESCRIPTIONS = ("StudyDescription", "SeriesDescription", "ProtocolName", "ImageComments")
DESCRIPTIONS += ("PerformedProcedureStepDescription",)


def _real(name: str, pydicom_data_dir: Path | None = None) -> Dataset:
    if pydicom_data_dir is not None:
        return pydicom.dcmread(pydicom_data_dir / name, stop_before_pixels=True)
    return pydicom.dcmread(get_testdata_file(name))


def _with_identity(ds: Dataset) -> Dataset:
    """The real header, with the identity fields it leaves empty filled in, and the
    descriptions a viewer shows present, so that every kind of identifier gets planted."""
    ds = copy.deepcopy(ds)
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    for keyword in DESCRIPTIONS:
        setattr(ds, keyword, getattr(ds, keyword, "") or "routine")
    return ds


def _planted(ds: Dataset, ident: str) -> Dataset:
    """``ds`` with ``ident`` in every free-text element that is not itself a source of
    identifiers (names, IDs, addresses...), in every private text element and private creator,
    and in new private elements and sequences, at the top level and three items deep."""
    ds = copy.deepcopy(ds)
    text = f"{ident} seen; also {ident.lower()}."
    parts = [ds, *([ds.file_meta] if hasattr(ds, "file_meta") else [])]
    while parts:
        current = parts.pop()
        for elem in current:
            if elem.VR == "SQ":
                parts.extend(elem.value)
            elif elem.VR in FREE_TEXT and (
                elem.tag.is_private or not is_identifier_source(elem.tag, elem.VR)
            ):
                elem.value = text
    block = ds.private_block(0x0029, "DICOMVIZ PLANT", create=True)
    block.add_new(0x01, "LO", ident)
    inner = Dataset()
    inner.private_block(0x0031, "DICOMVIZ INNER", create=True).add_new(0x01, "LT", text)
    inner.ImageComments = text
    block.add_new(0x02, "SQ", Sequence([inner]))
    deepest = Dataset()
    deepest.CodeMeaning = text  # kept by the profile, three items deep: cleaned, not hidden
    deepest.private_block(0x0033, "DICOMVIZ DEEP", create=True).add_new(0x01, "SH", ident)
    middle = Dataset()
    middle.CodeMeaning = text
    middle.AnatomicRegionModifierSequence = Sequence([deepest])
    top = Dataset()
    top.CodeMeaning = text
    top.AnatomicRegionSequence = Sequence([middle])
    ds.ProcedureCodeSequence = Sequence([top])
    return ds


def _planted_identifiers(ds: Dataset) -> list[str]:
    """The header's identifiers, with its many date spellings cut to a handful per date."""
    dates = [str(e.value)[:8] for e in ds.iterall() if e.VR in ("DA", "DT") and e.value]
    spellings = pieces("DA", dates) - {*dates, *BIRTH_SPELLINGS}
    return sorted(identifiers_of(ds) - spellings)


def _finder(ident: str) -> re.Pattern[str]:
    """How ``ident`` would show: as the cleaner looks for it (digits and 2-letter names not
    running on), case-insensitively."""
    body = r"\s+".join(re.escape(word) for word in ident.split())
    head = r"(?<!\d)" if ident[0].isdigit() else r"(?<![^\W\d_])" if len(ident) < 3 else ""
    tail = r"(?!\d)" if ident[-1].isdigit() else r"(?![^\W\d_])" if len(ident) < 3 else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def _leaked(identifiers: list[str], text: str) -> list[str]:
    return [ident for ident in identifiers if _finder(ident).search(text)]


def _assert_hidden(table: pd.DataFrame, identifiers: list[str]) -> None:
    """Neither the CSV download nor any cell of the table shows an identifier."""
    assert not _leaked(identifiers, table.to_csv(index=False))
    cells = "\0".join(str(v) for column in table.columns for v in table[column])
    assert not _leaked(identifiers, cells)


HEADERS = [("CT_small.dcm", False), ("MR_small.dcm", False), ("JPEG-LL.dcm", True)]


@pytest.mark.parametrize(("name", "from_pydicom_data"), HEADERS)
def test_no_planted_identifier_shows(
    name: str, from_pydicom_data: bool, pydicom_data_dir: Path
) -> None:
    original = _with_identity(_real(name, pydicom_data_dir if from_pydicom_data else None))
    identifiers = _planted_identifiers(original)
    assert {"Okafor", "Chidi", "Jo", "ACC0099812", "Portsmouth, PO1 3AX", *BIRTH_SPELLINGS} <= set(
        identifiers
    )
    for ident in identifiers:
        planted = _planted(original, ident)
        table = redact_table(header_table(planted), identifiers=identifiers_of(planted))
        _assert_hidden(table, identifiers)
        ours = table[table["private_creator"].str.startswith("DICOMVIZ ")]
        creators = ours["tag"].str.slice(6, 8) == "00"  # (gggg,00xx) name a private block
        assert set(ours.loc[~creators, "value"]) == {REDACTED}  # hidden, not just cleaned
        described = table.set_index("keyword")["value"]
        assert described["SeriesDescription"] == f"{REDACTED} seen; also {REDACTED}."


@pytest.mark.parametrize(("name", "from_pydicom_data"), HEADERS)
def test_no_planted_identifier_shows_among_varying_elements(
    name: str, from_pydicom_data: bool, pydicom_data_dir: Path
) -> None:
    original = _with_identity(_real(name, pydicom_data_dir if from_pydicom_data else None))
    identifiers = _planted_identifiers(original)
    for start in range(0, len(identifiers), 3):
        series = []
        for number, ident in enumerate(identifiers[start : start + 3], 1):
            ds = _planted(original, ident)
            ds.InstanceNumber = number
            ds.PatientName = f"{ident}^Other"  # a header that names someone else
            series.append(ds)
        table = varying_elements(series)
        assert "SeriesDescription" in set(table["keyword"]) or len(series) == 1
        _assert_hidden(redact_table(table, identifiers=identifiers_of(*series)), identifiers)
        names = redact_table(table).set_index("keyword")["range"]  # as the page calls it today
        assert len(series) == 1 or names["PatientName"] == REDACTED


def test_a_private_element_naming_the_patient_is_hidden(pydicom_data_dir: Path) -> None:
    ds = _real("JPEG-LL.dcm", pydicom_data_dir)
    assert ds[0x00091040].value == "BERRA,JAMES"  # GE "Patient Object Name"
    table = redact_table(header_table(ds), identifiers=identifiers_of(ds))
    assert "BERRA" not in table.to_csv()
    creators = table[table["tag"] == "(0009,0010)"]
    assert list(creators["value"]) == ["GEMS_GENIE_1"]  # which vendor's block: still shown


def test_elements_the_profile_keeps_stay_visible() -> None:
    ds = _real("CT_small.dcm")
    before = header_table(ds).set_index("keyword")["value"]
    after = redact_table(header_table(ds), identifiers=identifiers_of(ds))
    shown = after[after["depth"] == 0].set_index("keyword")["value"]
    for keyword in ("Modality", "Rows", "Columns", "PixelSpacing", "SOPClassUID", "KVP"):
        assert shown[keyword] == before[keyword] != REDACTED
    assert shown["SOPClassUID"].startswith("1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)")
    for keyword in ("PatientName", "PatientID", "SOPInstanceUID", "StudyInstanceUID"):
        assert shown[keyword] == REDACTED
    assert after.loc[after["keyword"] == "MediaStorageSOPInstanceUID", "value"].item() == REDACTED
    assert redact_table(after).equals(after)  # hiding twice changes nothing


def test_tags_given_with_group_wildcards_match() -> None:
    ds = Dataset()
    ds.add_new(0x60024000, "LT", "overlay drawn by Okafor")  # Overlay Comments (60xx,4000)
    ds.add_new(0x60023000, "OW", b"\x00\x01" * 8)  # Overlay Data (60xx,3000)
    ds.add_new(0x501E0005, "US", 2)  # Curve Dimensions, in curve data (50xx,xxxx)
    ds.add_new(0x60020010, "US", 64)  # Overlay Rows: not in the profile
    table = redact_table(header_table(ds)).set_index("tag")["value"]
    assert table["(6002,4000)"] == table["(6002,3000)"] == table["(501E,0005)"] == REDACTED
    assert table["(6002,0010)"] == "64"
    assert profile().rule(0x60024000).tag == "(60xx,4000)"
    assert profile().rule(0x50000000).tag == "(50xx,xxxx)"


def _depth_three(leaf: Dataset, outer: str) -> Dataset:
    ds, node = Dataset(), leaf
    for keyword in ("AnatomicRegionModifierSequence", "AnatomicRegionSequence", outer):
        parent = Dataset()
        setattr(parent, keyword, Sequence([node]))
        node = parent
    ds.update(node)
    return ds


def test_identifiers_three_sequences_deep_are_hidden() -> None:
    leaf = Dataset()
    leaf.PatientName = "Doe^Jane"
    leaf.CodeMeaning = "left, seen by Jane Doe"
    leaf.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "Doe")
    ds = _depth_three(leaf, "ProcedureCodeSequence")
    table = redact_table(header_table(ds), identifiers=identifiers_of(ds))
    deep = table[table["depth"] == 3].set_index("keyword")["value"]
    assert deep["PatientName"] == REDACTED
    assert deep["CodeMeaning"] == f"left, seen by {REDACTED} {REDACTED}"
    assert deep[""].tolist() == ["ACME", REDACTED]  # private creator shown, its value not
    assert set(table.loc[table["depth"] == 3, "path"]) == {
        "ProcedureCodeSequence[0].AnatomicRegionSequence[0].AnatomicRegionModifierSequence[0]"
    }


def test_everything_under_a_hidden_sequence_is_hidden() -> None:
    leaf = Dataset()
    leaf.CodeMeaning = "a kept element, but inside a removed sequence"
    leaf.Modality = "CT"
    ds = _depth_three(leaf, "RequestAttributesSequence")  # X in Table E.1-1
    private = Dataset()
    private.Modality = "MR"
    ds.private_block(0x0019, "ACME", create=True).add_new(0x01, "SQ", Sequence([private]))
    table = redact_table(header_table(ds))
    nested = table[table["depth"] > 0]
    assert sorted(nested["depth"]) == [1, 1, 2, 3, 3]
    assert set(nested["value"]) == {REDACTED}


def test_readable_descriptors_are_those_the_profile_lets_clean() -> None:
    assert len(READABLE_DESCRIPTORS) >= 5
    for tag in READABLE_DESCRIPTORS:
        rule = profile().rule(tag)
        assert rule is not None and not rule.keeps
        assert rule.options[CLEAN_DESCRIPTORS] == "C", rule.name
    history = profile().rule(tag_for_keyword("AdditionalPatientHistory"))
    assert history.options[CLEAN_DESCRIPTORS] == "C"  # cleanable too, yet hidden whole
    assert tag_for_keyword("AdditionalPatientHistory") not in READABLE_DESCRIPTORS


def test_the_profile_data_is_the_whole_table() -> None:
    table = profile()
    assert table.edition == "2026d"
    assert len(table.rules) == 657
    assert {rule.action for rule in table.rules} <= {
        *("X", "Z", "D", "U", "K", "C", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")
    }
    assert table.rule(tag_for_keyword("PatientName")).action == "Z"
    assert table.rule(tag_for_keyword("PerformedStationName")).action == "X"
    assert table.rule(0x00291010).name == "Private Attributes"
    assert table.rule(tag_for_keyword("Modality")) is None  # not listed: kept


def test_text_is_cleaned_of_names_dates_and_ids() -> None:
    ds = Dataset()
    ds.PatientName = "Lee^Jo^^Dr"
    ds.PatientID = "4711"
    ds.PatientBirthDate = BIRTH
    ds.StudyDescription = "Jo Lee, born 4 March 1970 (1970/03/04), ID 4711; MAJOR JOINT 147110"
    ds.Rows = 4711  # a number: never cleaned
    ds.SeriesDescription = "Dr Jones"  # the prefix Dr identifies no one
    table = redact_table(header_table(ds), identifiers=identifiers_of(ds))
    shown = table.set_index("keyword")["value"]
    hidden = REDACTED
    assert shown["StudyDescription"] == (
        f"{hidden} {hidden}, born {hidden} ({hidden}), ID {hidden}; MAJOR JOINT 147110"
    )
    assert shown["Rows"] == "4711"
    assert shown["SeriesDescription"] == "Dr Jones"


def test_without_identifiers_the_table_still_cleans_what_its_hidden_rows_name() -> None:
    ds = _real("CT_small.dcm")
    ds.StudyDescription = "CT for CompressedSamples, ID 1CT1"
    table = redact_table(header_table(ds)).set_index("keyword")["value"]
    assert table["StudyDescription"] == f"CT for {REDACTED}, ID {REDACTED}"


def test_a_value_clipped_inside_an_identifier_hides_its_beginning() -> None:
    ds = Dataset()
    ds.PatientName = "Kowalczyk^Agnieszka"
    ds.ImageComments = "x" * 196 + "Kowalczyk Agnieszka"
    table = redact_table(header_table(ds), identifiers=identifiers_of(ds))
    shown = table.set_index("keyword")["value"]["ImageComments"]
    assert shown == "x" * 196 + f"{REDACTED}… (215 chars)"


def test_a_search_cannot_find_hidden_values(tmp_path: Path, capsys) -> None:
    ds = _with_identity(_real("CT_small.dcm"))
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    assert main(["headers", str(path), "--hide-identifiers", "--search", "Okafor"]) == 0
    assert "Okafor" not in capsys.readouterr().out


def test_command_line_hides_identifiers(tmp_path: Path, capsys) -> None:
    original = _with_identity(_real("CT_small.dcm"))
    identifiers = _planted_identifiers(original)
    path = tmp_path / "planted.dcm"
    _planted(original, "Okafor^Chidi").save_as(path)
    assert main(["headers", str(path)]) == 0
    assert "Okafor" in capsys.readouterr().out  # the switch is what hides it
    assert main(["headers", str(path), "--hide-identifiers"]) == 0
    out = capsys.readouterr().out
    assert REDACTED in out and "CT Image Storage" in out
    assert not _leaked(identifiers, out)
    csv = tmp_path / "headers.csv"
    assert main(["headers", str(path), "--hide-identifiers", "--csv", str(csv)]) == 0
    assert not _leaked(identifiers, csv.read_text())


def test_redacting_a_large_table_is_quick() -> None:
    ds = _with_identity(_real("CT_small.dcm"))
    items = []
    for index in range(800):
        item = Dataset()
        item.SeriesDescription = f"series {index}: head and neck, seen by Okafor"
        item.ImageComments = f"frame {index} of a long acquisition"
        item.CodeMeaning = "a coded concept"
        item.ContentDate = "20040119"
        item.SliceLocation = index
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        item.InstanceNumber = index
        item.Manufacturer = "GE MEDICAL SYSTEMS"
        item.WindowCenter = 40
        items.append(item)
    ds.PerformedProtocolCodeSequence = Sequence(items)
    table = header_table(ds)
    identifiers = identifiers_of(ds)
    assert len(table) > 7000
    took = []
    for _ in range(3):
        started = time.perf_counter()
        redacted = redact_table(table, identifiers=identifiers)
        took.append(time.perf_counter() - started)
    assert "Okafor" not in redacted.to_csv()
    assert min(took) < 0.1, took


def test_an_empty_or_foreign_table_is_returned_as_it_is() -> None:
    empty = header_table(Dataset())
    assert redact_table(empty) is empty
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    assert redact_table(header_table(ds)).empty


def test_a_series_identifiers_make_their_regex_once_and_clean_each_image_as_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page cleans every image's table with its series' identifiers: the regex is built
    once for the series, and each table comes out as with that image's own identifiers."""
    images = []
    for number in range(3):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientName = "DOE^JANE"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1125.{number}.77"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImageComments = f"DOE^JANE slice {number} scanned 1.2.826.0.1.3680043.2.1125.{number}.77"
        images.append(ds)
    series = identifiers_of(*images)
    built = []
    real = privacy._pattern
    monkeypatch.setattr(privacy, "_pattern", lambda ids: built.append(1) or real(ids))
    for ds in images:
        alone = redact_table(header_table(ds), identifiers=identifiers_of(ds))
        shared = redact_table(header_table(ds), identifiers=series)
        comment = shared[shared["keyword"] == "ImageComments"]["value"].iloc[0]
        assert "JANE" not in comment and ".77" not in comment
        assert (shared["value"] == alone["value"]).all()
    assert len(built) == 3 + 1  # one regex per image alone, one for the whole series
