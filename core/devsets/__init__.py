"""Small datasets shipped inside the package (see ``catalog``)."""
