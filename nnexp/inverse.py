"""``python -m nnexp.inverse <run_dir> [--method auto|back|gradient] [--out file.png]``: the input a
trained network associates with each digit 0-9, as one PNG grid of the ten images (default
``<run_dir>/inverse_<method>.png``) and the images as .npz beside it. The methods (the classic back
query, and gradient ascent for any network) are written out in ``nnexp.nn.inverse_queries``; the run
is read and drawn by ``nnexp.training.run_inverse``."""

import argparse
import sys

from .errors import NnexpError, error_line
from .training.run_inverse import METHODS, inverse_query


def main(argv=None):
    """``python -m nnexp.inverse <run_dir>``: the image each digit 0-9 stands for in a trained network."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.inverse", description=main.__doc__)
    parser.add_argument("run_dir", help="a run directory holding weights.npz and .hydra/config.yaml")
    parser.add_argument("--method", default="auto", choices=METHODS,
                        help="back: the classic back query (invertible activations, no biases); gradient: "
                             "optimise an input per class (any network); auto: back where possible")
    parser.add_argument("--out", help="PNG file to write (default: <run_dir>/inverse_<method>.png)")
    args = parser.parse_args(argv)
    try:
        path = inverse_query(args.run_dir, args.out, args.method)
    except NnexpError as err:
        return error_line(err, "nnexp.inverse")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
