"""The S4 desk: server-rendered pages for operators, records managers and auditors."""
