"""The four roles of the platform, as Django groups."""

READER = "reader"
ADJUDICATOR = "adjudicator"
CLINICIAN = "clinician"
ADMIN = "admin"
ROLES = (READER, ADJUDICATOR, CLINICIAN, ADMIN)
