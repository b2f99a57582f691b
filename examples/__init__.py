"""Example backends using wxauth."""
