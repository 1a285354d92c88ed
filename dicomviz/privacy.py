"""Blank patient identifiers (DICOM PS3.15 Annex E basic profile, the attributes a quick look
shows) wherever header values are shown or downloaded."""

from __future__ import annotations

import pandas as pd

REDACTED = "(hidden)"

IDENTIFYING_KEYWORDS: frozenset[str] = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientSex",
        "PatientAge",
        "PatientAddress",
        "OtherPatientIDs",
        "OtherPatientIDsSequence",
        "OtherPatientNames",
        "PatientBirthName",
        "PatientMotherBirthName",
        "PatientTelephoneNumbers",
        "PatientWeight",
        "PatientSize",
        "EthnicGroup",
        "PatientComments",
        "MilitaryRank",
        "MedicalRecordLocator",
        "IssuerOfPatientID",
        "PatientInsurancePlanCodeSequence",
        "AccessionNumber",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "ReferringPhysicianName",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansOfRecord",
        "RequestingPhysician",
        "OperatorsName",
        "StudyID",
        "StationName",
        "DeviceSerialNumber",
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "InstanceCreationDate",
        "StudyTime",
        "SeriesTime",
        "AcquisitionTime",
        "ContentTime",
        "InstanceCreationTime",
        "AcquisitionDateTime",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "PerformedProcedureStepID",
        "RequestAttributesSequence",
        "ScheduledProcedureStepID",
        "RequestedProcedureID",
        "AdmissionID",
        "CurrentPatientLocation",
        "PatientState",
        "AdditionalPatientHistory",
        "ResponsiblePerson",
        "ResponsibleOrganization",
    }
)


def redact_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with the identifying rows' values (and everything nested under an identifying
    sequence) replaced; the rows stay, so a user sees that the element exists."""
    if table.empty or "keyword" not in table:
        return table
    hidden = table["keyword"].isin(IDENTIFYING_KEYWORDS)
    if "path" in table:
        nested = (
            table["path"]
            .astype(str)
            .str.contains(
                "|".join(sorted(k for k in IDENTIFYING_KEYWORDS if k.endswith("Sequence"))),
                regex=True,
            )
        )
        hidden |= nested
    value_columns = [c for c in ("value", "range") if c in table]
    out = table.copy()
    out.loc[hidden, value_columns] = REDACTED
    return out
