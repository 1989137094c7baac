# The contract app (examples/CONTRACT.md) in Python, made a WASI 0.2
# component by componentize-py. The exit status goes out through WASI
# 0.2.12's wasi:cli/exit.exit-with-code, so the host sees the exact code
# (sys.exit could only say success or failure).
import os
import sys

from wit_world import exports
from wit_world.imports import exit as wasi_exit

LANGUAGE = "Python"


class Run(exports.Run):
    def run(self) -> None:
        print(f"Hello from {LANGUAGE}!")

        args = sys.argv[1:]
        print(" ".join(["args:"] + [f"[{a}]" for a in args]))

        greeting = os.environ.get("GREETING")
        print("GREETING is not set" if greeting is None else f"GREETING={greeting}")

        with open("/input/message.txt", encoding="utf-8") as f:
            first = f.readline().rstrip("\r\n")
        print(f"input: {first}")

        with open("/output/result.txt", "w", encoding="utf-8") as f:
            f.write(f"{LANGUAGE} read: {first}\n")
        print("wrote /output/result.txt")

        sys.stdout.flush()
        wasi_exit.exit_with_code(int(args[0]) if args else 0)
