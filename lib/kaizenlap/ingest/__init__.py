"""Ingest: the TRD files (folders, zips, Cloud Storage) read into one lap table per race, with reason-coded
flags, reconciled against the official results."""
