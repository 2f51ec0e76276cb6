"""
Copy the saved benchmark tables into the README.

    python benchmarks/update_readme.py

Every block of the README between ``<!-- bench:NAME -->`` and ``<!-- /bench -->``
is replaced by the contents of ``benchmarks/results/NAME``, so the speed figures
in the README are always those of a saved run, never typed.
"""

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, os.pardir, "README.md")


def main():
    with open(README) as fh:
        text = fh.read()

    def fill(m):
        name = m.group(1)
        with open(os.path.join(HERE, "results", name)) as fh:
            table = fh.read().rstrip()
        return f"<!-- bench:{name} -->\n```\n{table}\n```\n<!-- /bench -->"

    new = re.sub(r"<!-- bench:([\w.]+) -->.*?<!-- /bench -->", fill, text, flags=re.S)
    with open(README, "w") as fh:
        fh.write(new)


if __name__ == "__main__":
    main()
