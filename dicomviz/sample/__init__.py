"""The built-in sample series: a synthetic chest CT phantom written as real DICOM."""

from dicomviz.sample.phantom import SAMPLE_DESCRIPTION, sample_series

__all__ = ["SAMPLE_DESCRIPTION", "sample_series"]
