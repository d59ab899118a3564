"""The instructor's tooling for optimlab: release, checks data, grading.

``python -m autograder release`` regenerates the student release ``course/`` (and the self-check data) from
``solutions/``; ``python -m autograder release --check`` says whether ``course/`` is up to date.
"""
