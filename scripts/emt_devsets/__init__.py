"""Building blocks of the synthetic EMT catalysis devsets (OC20 format, not OC20 data).

Used by ``scripts/make_emt_devsets.py``; a development tool, not part of the matforge package.
Needs ase (EMT calculator, slab builders, BFGS) and, for the adsorbates, the
``fairchem-data-oc`` package (``pip install --no-deps fairchem-data-oc``).
"""

#: Bumped whenever a change alters the generated files.
GENERATOR_VERSION = "1"
