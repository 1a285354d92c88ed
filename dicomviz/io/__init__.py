"""Inputs to header records: files, folders and archives gathered; DICOM told by content; each
file's header read once (by the fast scanner or by pydicom) into one HeaderRecord, and checked
before any pixel is touched.

``inputs`` gathers named bytes; ``sniff`` tells DICOM by its first bytes; ``scan`` reads a plain
file's values straight from its bytes; ``parse`` runs pydicom's parse, guarded, and
``truncation`` explains a cut file; ``header`` is the record both readers give; ``checks`` and
``pixel_data`` judge a header before decoding; ``reading`` orchestrates them into a DicomFile;
``tags`` holds the tag numbers they share.
"""
