# A CPython component for the benchmarks: the interpreter is most of its
# 18 MB, so starting it measures how fast qyv loads a large component.
import wit_world
from wit_world import exports

class Run(exports.Run):
    def run(self) -> None:
        print("Hello from Python!")
