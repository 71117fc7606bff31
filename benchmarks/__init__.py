"""`make bench`: the figures DESIGN.md and the issues ask for, printed as tables and saved as JSON."""
