"""Command line: ``python -m sandbox_mis [--host] [--port] [--scale] [--seed] [--academies N]
[--dataset FILE] [--faults SPEC] [--api wonde|arbor]``.

Prints the base URL and each school's id and token, then serves until interrupted.
"""

from __future__ import annotations

import argparse

import uvicorn

from sandbox_mis.app import BASE_PATH, create_app
from sandbox_mis.arbor import create_arbor_app
from sandbox_mis.dataset import Dataset, generate, load
from sandbox_mis.faults import Faults, parse_faults


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build or load the dataset and serve it."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox_mis",
        description="Serve the sandbox MIS: Wonde-shaped (default) or Arbor-style.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--scale", type=float, default=1.0, help="pupil count multiplier")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--academies", type=int, default=4, help="academies in the trust (above 4: copies)"
    )
    parser.add_argument("--dataset", help="serve this JSON dataset instead of generating one")
    parser.add_argument(
        "--faults",
        type=_faults,
        metavar="SPEC",
        help="inject faults, e.g. '429:every=5,retry_after=1;500:every=7;truncate:pages=2' "
        "(see services/sandbox_mis/README.md)",
    )
    parser.add_argument(
        "--api",
        choices=("wonde", "arbor"),
        default="wonde",
        help="which MIS API to speak: Wonde-shaped (default) or Arbor-style REST",
    )
    args = parser.parse_args(argv)
    dataset = (
        load(args.dataset)
        if args.dataset
        else generate(seed=args.seed, scale=args.scale, academies=args.academies)
    )
    if args.api == "arbor":
        _serve_arbor(args, dataset)
        return
    try:
        app = create_app(dataset, args.faults)
    except ValueError as error:  # a fault scope naming the Arbor-style API's resources
        raise SystemExit(f"--faults: {error}") from None
    print(f"Sandbox MIS at http://{args.host}:{args.port}{BASE_PATH}")
    if args.faults is not None:
        print(f"  injecting faults: {args.faults}")
    for school in dataset.schools:
        print(f"  {school.id}  {school.name:<28}  token: {school.token}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


def _serve_arbor(args: argparse.Namespace, dataset: Dataset) -> None:
    """Serve the Arbor-style API: one base path per school, HTTP Basic (school id, token)."""
    try:
        app = create_arbor_app(dataset, args.faults)
    except ValueError as error:  # a fault scope naming the Wonde-shaped API's resources
        raise SystemExit(f"--faults: {error}") from None
    print(f"Sandbox MIS (Arbor-style) at http://{args.host}:{args.port}/<school id>/rest-v2/")
    if args.faults is not None:
        print(f"  injecting faults: {args.faults}")
    for school in dataset.schools:
        print(f"  {school.id}  {school.name:<28}  basic auth: {school.id} / {school.token}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


def _faults(spec: str) -> Faults:
    """Parse ``--faults`` so argparse reports a bad spec as a usage error."""
    try:
        return parse_faults(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


if __name__ == "__main__":
    main()
