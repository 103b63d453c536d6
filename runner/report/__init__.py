"""The report: cross-run summary (compare), pages from templates (render), the MkDocs site
(site), its zip for submission (dist)."""
