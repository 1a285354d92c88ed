"""Inputs to headers: files, folders and archives gathered; DICOM told by content; each file's
header read (by the fast scanner or by pydicom) and checked before any pixel is touched."""
