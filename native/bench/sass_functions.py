"""The kernels of a `cuobjdump -sass` listing: shared by the SASS summary scripts."""
import re
import subprocess


def kernels(text, contains):
    """Yields (demangled name, SASS text) of every function whose mangled name contains `contains`."""
    for chunk in re.split(r"\n\s+Function : ", text)[1:]:
        name = chunk.split("\n", 1)[0].strip()
        if contains not in name:
            continue
        pretty = subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip() or name
        yield pretty, chunk
