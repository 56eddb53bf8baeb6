"""matforge.testing: checks any backbone can be run through (the contract kit)."""
