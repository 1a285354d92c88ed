"""What varies across a series whose images are frames of enhanced multi-frame files.

An enhanced file (Enhanced MR/CT/PET) keeps each frame's position, rescale, window, frame type,
echo time... in that frame's item of PerFrameFunctionalGroupsSequence, and what all frames share
in SharedFunctionalGroupsSequence. Comparing whole files' top-level elements finds none of it, so
here an image is a (dataset, frame index) pair and its functional groups are compared, at any
depth, one value per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydicom import Dataset
from pydicom.datadict import keyword_for_tag
from pydicom.tag import BaseTag

from dicomviz.errors import UsageError
from dicomviz.tables.headers import (
    PER_FRAME_TAG,
    SHARED_TAG,
    VARYING_COLUMNS,
    _charset,
    _dictionary_vr,
    _Element,
    _is_bulk,
    _Row,
    _same_element,
    _varying_row,
    check_frame,
    sequence_items,
    varying_elements,
)

FRAME_VARYING_COLUMNS = (*VARYING_COLUMNS, "path")
FRAME_GROUPS_PATH = "PerFrameFunctionalGroupsSequence[*]"
"""The ``path`` of a functional-group element: whichever frame's item (or the shared one)."""

Image = tuple[Dataset, int | None]
_Key = tuple[str, int]  # (path of the item holding the element, tag)
_Entry = tuple[Dataset, _Element]  # (the item, the element as stored: maybe still unread)
_Flat = dict[_Key, _Entry]


def varying_in_frames(images: Sequence[Image], *, max_depth: int = 16) -> pd.DataFrame:
    """Elements whose value differs across ``images``, each a file's dataset and the index of
    the frame inside it (from 0, as ``Frame.index``; None for a single-frame file).

    Columns are :data:`FRAME_VARYING_COLUMNS`. Top-level elements are compared across files as
    :func:`~dicomviz.tables.headers.varying_elements` does (``path`` ""); functional-group elements
    across images, ``path`` starting ``PerFrameFunctionalGroupsSequence[*]``. A frame's own
    group replaces the shared group of the same kind (PS3.3 C.7.6.16). An element missing from
    some images counts as varying, with ``(absent)`` as one of its values. A frame index outside
    its file raises :class:`UsageError`; sequences deeper than ``max_depth`` are not compared.
    """
    if max_depth < 0:
        raise UsageError(f"max_depth must be >= 0, not {max_depth}")
    files = list({id(ds): ds for ds, _ in images}.values())
    top = varying_elements(files).assign(path="")
    frame_rows = _frame_rows(_frame_values(images, max_depth), files)
    if not frame_rows:  # e.g. a series of single-frame files
        return top
    rows = [*top.itertuples(index=False, name=None), *frame_rows]
    table = pd.DataFrame.from_records(rows, columns=FRAME_VARYING_COLUMNS)
    return table.astype({"distinct": "int64"})


def _frame_values(images: Sequence[Image], max_depth: int) -> list[_Flat]:
    """Each image's functional-group elements; a file's shared groups are walked once."""
    files: dict[int, tuple[dict[int, _Flat], Sequence[Any]]] = {}
    flats: list[_Flat] = []
    for ds, frame in images:
        if frame is None or max_depth < 1:
            flats.append({})
            continue
        if frame != 0:  # every file has a frame 0: a single-frame series costs no lookups
            check_frame(ds, frame)
        if id(ds) not in files:
            files[id(ds)] = _file_groups(ds, max_depth)
        shared, items = files[id(ds)]
        if not shared and not items:
            flats.append({})
            continue
        own = items[frame] if frame < len(items) else None
        merged = shared | _groups(own, max_depth)  # the frame's own group wins
        flat: _Flat = {}
        for group in sorted(merged):
            flat.update(merged[group])
        flats.append(flat)
    return flats


def _file_groups(ds: Dataset, max_depth: int) -> tuple[dict[int, _Flat], Sequence[Any]]:
    """The shared groups, walked, and the per-frame items; found by key, not by reading."""
    keys = ds.keys()  # int lookups in the raw dict: no value is converted
    if SHARED_TAG not in keys and PER_FRAME_TAG not in keys:
        return {}, []
    shared = sequence_items(ds, SHARED_TAG)
    return _groups(shared[0] if shared else None, max_depth), sequence_items(ds, PER_FRAME_TAG)


def _groups(item: Any, max_depth: int) -> dict[int, _Flat]:
    """A functional-groups item's elements by group (the item's own tags), each group's
    elements at any depth by (path, tag). Explicit stack: a hostile file may nest deeply.
    Groups without any element are left out, so an empty one overrides nothing."""
    if not isinstance(item, Dataset):
        return {}
    groups: dict[int, _Flat] = {}
    for group in sorted(item.keys()):
        flat: _Flat = {}
        todo = [(item, int(group), FRAME_GROUPS_PATH, 1)]
        while todo:
            container, tag, path, depth = todo.pop()
            elem = container.get_item(tag, keep_deferred=True)
            items = _items(container, tag) if _is_sequence(elem) else None
            if items is None:
                flat[(path, tag)] = (container, elem)
            elif depth < max_depth:
                base = f"{path}.{keyword_for_tag(tag) or BaseTag(tag)}"
                for index in reversed(range(len(items))):  # reversed: item 0 comes out first
                    if isinstance(items[index], Dataset):
                        sub, inner = items[index], f"{base}[{index}]"
                        todo.extend(
                            (sub, int(t), inner, depth + 1)
                            for t in sorted(sub.keys(), reverse=True)
                        )
        if flat:
            groups[int(group)] = flat
    return groups


def _is_sequence(elem: _Element) -> bool:
    vr = elem.VR if elem.VR not in (None, "UN") else _dictionary_vr(elem.tag)
    return vr == "SQ"


def _items(container: Dataset, tag: int) -> Sequence[Any] | None:
    """A sequence's items, [] when it cannot be read; None when it turns out not to be a
    sequence (then it is compared as a value)."""
    try:
        elem = container[tag]
    except Exception:  # a damaged sequence: nothing in it can be compared
        return []
    return elem.value if elem.VR == "SQ" and elem.value is not None else None


def _frame_rows(flats: list[_Flat], files: list[Dataset]) -> list[_Row]:
    """A row for each (path, tag) whose value differs across images. Unread bytes are compared
    first (when all files share a character set), so equal values are never converted."""
    charset = _charset(files[0]) if files else None
    raw_ok = all(_charset(ds) == charset for ds in files)
    rows: list[_Row] = []
    for key in dict.fromkeys(key for flat in flats for key in flat):
        entries = [flat[key] for flat in flats if key in flat]
        first = entries[0][1]
        same = raw_ok and len(entries) == len(flats)
        if _is_bulk(first) or (same and all(_same_element(first, e) for _, e in entries)):
            continue
        row = _varying_row(key[1], entries, len(flats))
        if row is not None:
            rows.append((*row, key[0]))
    return rows
