"""The kit for testing against a simulated gun from any repository: a pytest plugin
(installed with the package, loaded by pytest through the `pytest11` entry point) with
fixtures for a fresh simulated gun and a fresh record. docs/testing.md shows its use."""
