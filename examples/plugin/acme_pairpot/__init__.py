"""acme-pairpot: an example matforge model plugin."""
