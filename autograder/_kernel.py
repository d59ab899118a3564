"""Start an IPython kernel that can create no process. Runs inside the sandbox, as the notebook's kernel:

    python -I /sandbox/grader/_kernel.py -f CONNECTION_FILE

The process filter (:mod:`autograder.seccomp`) goes on before the kernel starts its threads, so every thread and
every cell inherits it: no ``fork``, no ``subprocess``, no shell escape, no daemon that outlives the notebook.
"""

import os
import sys

GRADER = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    sys.path.insert(0, GRADER)
    import seccomp  # noqa: E402

    seccomp.forbid_new_processes()
    sys.path.remove(GRADER)
    sys.path.append(GRADER)  # for ``_answers``, after everything else
    from ipykernel import kernelapp  # noqa: E402

    kernelapp.launch_new_instance()
