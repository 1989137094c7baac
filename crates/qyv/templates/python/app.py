import sys

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print("Hello from Python! This is {{name}}.")
        print(" ".join(["args:"] + sys.argv[1:]))
