"""Contract suites: subclass one in a pytest file (named `Test...`) and give it a factory for a fresh store."""
