"""Hook implementations. Imported whenever matforge lists components or builds its command
line: no torch here (the command imports it when it runs)."""

import matforge

# The matforge plugin API versions this plugin was written for (required).
MATFORGE_PLUGIN_API = (1,)


@matforge.hookimpl
def matforge_register(registry):
    # A "module:attr" string: the model module is imported only when someone uses it.
    registry.register(
        "backbone",
        "morse-pair",
        "acme_pairpot.model:MorsePair",
        summary="learnable Morse pair potential (example plugin)",
    )


@matforge.hookimpl
def matforge_add_cli_commands(subparsers):
    # `matforge morse-curve`: the pair energy of a dimer against distance.
    parser = subparsers.add_parser(
        "morse-curve",
        help="print the Morse pair energy of a dimer against distance (acme-pairpot)",
        description="Energy (eV) of a two-atom molecule at distances from --start to --stop Å, "
        "from the Morse pair potential as initialised or as trained (--checkpoint).",
    )
    parser.add_argument("--species", type=int, nargs=2, default=(1, 1), metavar=("Z1", "Z2"), help="atomic numbers")
    parser.add_argument("--start", type=float, default=0.6, help="first distance (Å)")
    parser.add_argument("--stop", type=float, default=4.0, help="last distance (Å)")
    parser.add_argument("--points", type=int, default=8, help="number of distances")
    parser.add_argument("--checkpoint", default=None, help="a matforge checkpoint of a morse-pair task")
    parser.set_defaults(func=_morse_curve)


def _morse_curve(args):
    from acme_pairpot.curve import main

    return main(args)
