"""`make bench`: the figures the README and docs/ quote, printed as tables and saved as JSON."""
