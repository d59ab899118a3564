"""Command line: ``python -m autograder release [--check]``."""

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate course/ (the student release) from solutions/")
    release.add_argument("--check", action="store_true",
                         help="change nothing; exit 1 and list the differences when course/ is out of date")
    args = parser.parse_args(argv)
    if args.command == "release":
        from . import release as release_module

        try:
            return release_module.run(check=args.check)
        except (release_module.ReleaseError, release_module.checkdata.CatalogueError) as exc:
            print(f"release failed: {exc}", file=sys.stderr)
            return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
