"""What tells apart images at one position (echo, time point, diffusion, image type...), read from
standard attributes, enhanced functional groups and vendors' private elements, and named for a
person. Data sets are built here with the values each vendor uses, so each reader is checked
against the value it must find.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dicomviz.series.variants import (
    FACETS,
    Facet,
    Variant,
    labels,
    variant_of,
    variant_of_groups,
    with_vendor_diffusion,
)

FACET = {facet.name: facet for facet in FACETS}


def _dataset(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_standard_attributes_make_the_variant() -> None:
    ds = _dataset(
        EchoNumbers="2",
        EchoTime="92.5",
        TemporalPositionIdentifier="3",
        TriggerTime="400",
        AcquisitionNumber="5",
        ImageType=["ORIGINAL", "PRIMARY", "M", "ND"],
        DiffusionBValue="1000",
        DiffusionGradientOrientation=["0", "0.6", "0.8"],
        RescaleType="HZ",
        InstanceNumber="7",
    )
    assert variant_of(ds, 2) == Variant(
        echo_number=2,
        echo_time=92.5,
        temporal=3,
        trigger_time=400.0,
        acquisition=5,
        image_type=("ORIGINAL", "PRIMARY", "M", "ND"),
        b_value=1000.0,
        direction=(0.0, 0.6, 0.8),
        units="HZ",
        order=(7, 2),
    )


def test_absent_or_malformed_values_say_nothing() -> None:
    # As a damaged file gives them: ``variant_of`` reads anything that answers ``get``.
    damaged = {
        "EchoTime": "not a number",
        "EchoNumbers": "1.5",  # not a whole number
        "TriggerTime": "inf",
        "DiffusionGradientOrientation": ["0", "1"],  # two components
        "RescaleType": "US",  # unspecified, as most MR files say
    }
    variant = variant_of(damaged)
    assert variant == Variant()
    assert not variant.has_diffusion


@pytest.mark.parametrize(
    ("comments", "extra", "b_value", "direction"),
    [
        ("b=1500(0.895,0.000,0.445)", {}, 1500.0, (0.895, 0.0, 0.445)),
        ("DWI b = 0", {}, 0.0, None),
        ("b=1500(0.895,0.000,0.445)", {"DiffusionBValue": "800"}, 800.0, (0.895, 0.0, 0.445)),
        ("no diffusion here", {}, None, None),
    ],
    ids=["canon", "b0", "standard-b-wins", "none"],
)
def test_canon_writes_diffusion_in_image_comments(
    comments: str, extra: dict, b_value: float | None, direction: tuple | None
) -> None:
    variant = variant_of(_dataset(ImageComments=comments, **extra))
    assert (variant.b_value, variant.direction) == (b_value, direction)


def _item(**values: object) -> DicomSequence:
    return DicomSequence([_dataset(**values)])


def test_functional_groups_win_over_the_top_level() -> None:
    gradient = _dataset(DiffusionGradientOrientation=["1", "0", "0"])
    mapping = _dataset(MeasurementUnitsCodeSequence=_item(CodeValue="Hz"))
    groups = {
        "FrameContentSequence": _dataset(
            TemporalPositionIndex=4, StackID="2", FrameAcquisitionNumber=9
        ),
        "MREchoSequence": _dataset(EffectiveEchoTime=30.0),
        "MRImageFrameTypeSequence": _dataset(FrameType=["DERIVED", "PRIMARY", "FIELD_MAP", "NONE"]),
        "MRDiffusionSequence": _dataset(
            DiffusionBValue=500.0, DiffusionGradientDirectionSequence=DicomSequence([gradient])
        ),
        "CardiacSynchronizationSequence": _dataset(NominalCardiacTriggerDelayTime=250.0),
        "RealWorldValueMappingSequence": mapping,
    }
    top = _dataset(EchoTime="10", TriggerTime="100", ImageType=["ORIGINAL"], InstanceNumber="1")
    variant = variant_of_groups(top, 6, groups.get)
    assert variant == Variant(
        echo_time=30.0,
        temporal=4,
        trigger_time=250.0,
        acquisition=9,
        image_type=("DERIVED", "PRIMARY", "FIELD_MAP", "NONE"),
        b_value=500.0,
        direction=(1.0, 0.0, 0.0),
        stack_id="2",
        units="Hz",
        order=(1, 6),
    )
    # Without groups, the top level is all there is.
    assert variant_of_groups(top, 6, {}.get) == variant_of(top, 6)


# --- vendors' private diffusion elements ----------------------------------------------------


def _siemens(ds: Dataset) -> None:
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0C, "IS", "1000")
    block.add_new(0x0E, "FD", [0.6, 0.8, 0.0])


def _ge(ds: Dataset) -> None:
    # GE adds 10^9 to the b-value to say it is one; the direction is three elements.
    ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(
        0x39, "IS", ["1000000700", "8", "0", "0"]
    )
    block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    for offset, value in zip((0xBB, 0xBC, 0xBD), ("0.0", "-1.0", "0.0"), strict=True):
        block.add_new(offset, "DS", value)


def _philips(ds: Dataset) -> None:
    ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x03, "FL", 1200.0)
    block = ds.private_block(0x2005, "Philips MR Imaging DD 004", create=True)
    for offset, value in zip((0xB0, 0xB1, 0xB2), (0.0, 0.0, 1.0), strict=True):
        block.add_new(offset, "FL", value)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (_siemens, (1000.0, (0.6, 0.8, 0.0))),
        (_ge, (700.0, (0.0, -1.0, 0.0))),
        (_philips, (1200.0, (0.0, 0.0, 1.0))),
    ],
    ids=["siemens", "ge", "philips"],
)
def test_vendor_diffusion_is_read_where_the_standard_says_nothing(
    write: Callable[[Dataset], None], expected: tuple
) -> None:
    ds = Dataset()
    write(ds)
    found = with_vendor_diffusion(Variant(echo_time=90.0), ds)
    assert (found.b_value, found.direction) == expected
    assert found.echo_time == 90.0  # the rest of the variant is kept


def test_vendor_values_never_override_standard_ones_nor_break_on_damage() -> None:
    ds = Dataset()
    _siemens(ds)
    standard = Variant(b_value=50.0)
    assert with_vendor_diffusion(standard, ds) is standard
    damaged = Dataset()
    damaged.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0C, "LO", "high")
    assert with_vendor_diffusion(Variant(), damaged) == Variant()


# --- labels -----------------------------------------------------------------------------------


def _labels(facets: list[str], variants: list[Variant]) -> list[str]:
    chosen: list[Facet] = [FACET[name] for name in facets]
    return labels(chosen, [[v] for v in variants])


def test_echo_labels_give_the_echo_time_else_the_number() -> None:
    variants = [Variant(echo_number=1, echo_time=10.0), Variant(echo_number=2, echo_time=80.0)]
    assert _labels(["echo"], variants) == ["TE 10 ms", "TE 80 ms"]
    assert _labels(["echo"], [Variant(echo_number=1), Variant(echo_number=2)]) == [
        "echo 1",
        "echo 2",
    ]


def test_diffusion_directions_are_numbered_per_b_value_in_acquisition_order() -> None:
    x, y = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    variants = [
        Variant(b_value=0.0),
        Variant(b_value=1000.0, direction=x),
        Variant(b_value=1000.0, direction=y),
        Variant(b_value=2000.0, direction=y),
        Variant(b_value=1000.0, direction=(0.0, 0.0, 0.0)),  # trace: no direction
    ]
    assert _labels(["diffusion b-value and direction"], variants) == [
        "b=0",
        "b=1000, direction 1",
        "b=1000, direction 2",
        "b=2000, direction 1",
        "b=1000",
    ]


def test_image_type_labels_name_the_word_that_differs() -> None:
    magnitude = Variant(image_type=("ORIGINAL", "PRIMARY", "M", "ND"))
    phase = Variant(image_type=("ORIGINAL", "PRIMARY", "P", "ND"))
    field_map = Variant(image_type=("DERIVED", "PRIMARY", "FIELD_MAP", "ND"), units="Hz")
    assert _labels(["image type"], [magnitude, phase]) == ["magnitude", "phase"]
    assert _labels(["image type"], [magnitude, field_map]) == [
        "original magnitude",
        "derived field map (Hz)",
    ]


def test_other_facets_label_with_their_value() -> None:
    cases = {
        "time point": (Variant(temporal=3), "time point 3"),
        "stack": (Variant(stack_id="2"), "stack 2"),
        "acquisition number": (Variant(acquisition=5), "acquisition 5"),
        "trigger time": (Variant(trigger_time=412.5), "trigger 412.5 ms"),
    }
    for name, (variant, label) in cases.items():
        assert _labels([name], [variant]) == [label], name
    both = _labels(["echo", "time point"], [Variant(echo_time=30.0, temporal=2)])
    assert both == ["TE 30 ms, time point 2"]
