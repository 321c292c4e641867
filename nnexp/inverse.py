"""Inverse query: the input a trained network associates with each digit 0-9.

back      (classic experiment 5, "Make your own neural network") push the target vector of a digit
          (0.01, with 0.99 at the digit) backwards, layer l = L..1:
              z_l = f_l^-1(a_l)                 inverse activation (logit for sigmoid)
              a_{l-1} = rescale(W_l^T z_l)       transposed weights, then into [0.01, 0.99]
          Works for any depth when every activation is invertible and there are no biases.
gradient  for any network (relu, softmax, biases): start from a grey image and climb the gradient of
          log softmax(z_L)_k, the k-th class score against the others, minus an L2 pull towards grey,
          keeping the pixels in the input range.

``python -m nnexp.inverse <run_dir> [--method auto|back|gradient] [--out file.png]`` writes one PNG
grid of the ten images (default ``<run_dir>/inverse_<method>.png``) and the images as .npz beside it.
"""

import argparse
import sys

from .errors import NnexpError, error_line
from .sweep.inverse import METHODS, inverse_query


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
