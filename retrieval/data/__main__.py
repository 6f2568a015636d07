"""``python -m retrieval.data [NAME]``: print where the bundled sample (or one of its files) is installed.

Shell commands use it to reach the sample from any directory, e.g.
``kear index conceptnet "$(python -m retrieval.data)/conceptnet-assertions.csv" --output indexes/sample-conceptnet``.
"""

import sys

from . import SAMPLE_DIR, sample_file

if __name__ == "__main__":
    sys.stdout.write(f"{sample_file(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR}\n")
