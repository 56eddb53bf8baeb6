"""The plugin's ``matforge morse-curve`` command, added through ``matforge_add_cli_commands``."""

import subprocess
import sys


def run(*argv):
    return subprocess.run([sys.executable, "-m", "matforge.cli.main", *argv], capture_output=True, text=True, timeout=300)


def test_morse_curve_prints_the_dimer_energy_curve():
    result = run("morse-curve", "--species", "1", "1", "--start", "0.6", "--stop", "6.0", "--points", "10")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header == "r (Å)\tE (eV)"
    distances, energies = zip(*((float(r), float(e)) for r, e in (row.split("\t") for row in rows)))
    assert len(energies) == 10
    # As initialised: the well (E = 0) at r0 = 1.2 Å, repulsive inside, nothing beyond the 5 Å cutoff.
    assert energies[0] > energies[2] > energies[1]
    assert abs(energies[1]) < 1e-9  # r = 1.2 Å
    assert all(e == 0.0 for r, e in zip(distances, energies) if r >= 5.0)


def test_a_bad_range_is_one_clear_error():
    result = run("morse-curve", "--start", "3", "--stop", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("matforge: error: need --points >= 2 and 0 < --start < --stop")
